# La página de opinión, a la que se llega por el enlace de un solo uso de la invitación.

feedback-title = Su opinión sobre el apoyo entre pares
feedback-intro = Es opcional y anónimo: sus respuestas se guardan sin su nombre, su caso ni este enlace. El enlace funciona una sola vez.
feedback-helpfulness = ¿Cuánto le ayudó el apoyo entre pares?
feedback-helpfulness-1 = 1 – nada
feedback-helpfulness-2 = 2 – un poco
feedback-helpfulness-3 = 3 – algo
feedback-helpfulness-4 = 4 – bastante
feedback-helpfulness-5 = 5 – mucho
feedback-recommend = ¿Recomendaría el apoyo entre pares a un colega?
feedback-yes = Sí
feedback-no = No
feedback-send = Enviar mi opinión
feedback-form-error = Su opinión no se envió: responda las preguntas señaladas abajo.
feedback-choose-rating = Elija cuánto le ayudó, de 1 a 5.
feedback-choose-yes-no = Elija sí o no.
feedback-thanks-title = Gracias
feedback-thanks = Su opinión quedó registrada de forma anónima. Gracias por ayudarnos a mejorar el apoyo entre pares.
feedback-used-title = Este enlace ya se usó
feedback-used = Ya se dio una opinión por este enlace, y cada enlace admite una sola respuesta. No se cambió nada.
feedback-unknown-title = Este enlace no funciona
feedback-unknown = No es un enlace de opinión del programa de apoyo entre pares, o se copió incompleto: revise el enlace de su correo. Un enlace enviado antes de que el programa cambiara por última vez sus claves de seguridad tampoco funciona ya, y no se puede dar opinión a través de él. No se registró nada.
feedback-wait-title = Espere un momento
feedback-wait = { $seconds ->
    [one] Llegaron demasiadas respuestas por este enlace. Vuelva a intentarlo dentro de un segundo.
   *[other] Llegaron demasiadas respuestas por este enlace. Vuelva a intentarlo dentro de { $seconds } segundos.
}
