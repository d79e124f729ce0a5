# Correos enviados a un miembro. Texto sin formato: los saltos de línea se mantienen.

email-feedback-subject = Apoyo entre pares: dos preguntas, si lo desea (anónimas)
email-feedback-body =
    Hola, { $name }:

    Gracias por hablar con un compañero de apoyo. Si quiere decirle al programa de
    apoyo entre pares cuánto le ayudó, aquí tiene dos preguntas:

    { $link }

    Responder es opcional y anónimo: sus respuestas se guardan sin su nombre, su caso
    ni este enlace, y solo se publican totales, sin las cifras pequeñas. El enlace
    funciona una sola vez.
