# El formulario de derivación, al que se llega desde «Pedir apoyo»: derivarse a uno mismo o a un
# compañero. A quién contactar y cómo; nunca lo que pasó.

referral-title = Derivar al apoyo entre pares
referral-intro = Derívese usted, o derive a un compañero que le preocupa, a un compañero de apoyo formado para ello: un colega que se pondrá en contacto, escuchará y ofrecerá recursos. Indique a quién contactar y cómo; nunca lo que pasó.
referral-form-title = Derivación
referral-send = Enviar la derivación
referral-choose = Elija…
referral-not-stated = Sin indicar
referral-who = Quién hace la derivación
referral-who-self = Yo, para mí
referral-who-colleague = Un compañero
referral-who-supervisor = Un supervisor
referral-staff-id = Número de empleado de la persona a apoyar
referral-staff-id-hint = El suyo, si se deriva usted.
referral-given-name = Nombre
referral-family-name = Apellidos
referral-role = Puesto
referral-role-hint = Por ejemplo: enfermera titulada.
referral-discipline = Profesión
referral-discipline-physician = Medicina
referral-discipline-resident = Residente
referral-discipline-fellow = Subespecialidad en formación (fellow)
referral-discipline-nurse = Enfermería
referral-discipline-pharmacist = Farmacia
referral-discipline-respiratory_therapist = Terapia respiratoria
referral-discipline-physical_therapist = Fisioterapia
referral-discipline-social_work = Trabajo social
referral-discipline-spiritual_care = Atención espiritual
referral-discipline-supervisor = Supervisión
referral-discipline-allied_health = Otras profesiones sanitarias
referral-discipline-other = Otra
referral-department = Departamento
referral-seniority = Experiencia
referral-seniority-trainee = En formación
referral-seniority-early_career = Inicio de carrera
referral-seniority-mid_career = Mitad de carrera
referral-seniority-senior = Sénior
referral-campus = Centro
referral-unit = Unidad
referral-email = Correo electrónico
referral-email-hint = Al menos una forma de contactarle: correo electrónico, teléfono o móvil.
referral-phone = Teléfono
referral-mobile = Móvil
referral-channel = Medio de contacto preferido
referral-supporter-gender = Compañero de apoyo preferido: género
referral-supporter-gender-hint = Solo puede indicar preferencias cuando se deriva usted.
referral-supporter-specialty = Compañero de apoyo preferido: especialidad
referral-supporter-department = Compañero de apoyo preferido: departamento
referral-supporter-seniority = Compañero de apoyo preferido: experiencia
referral-supporter-language = Compañero de apoyo preferido: idioma
referral-supporter-language-hint = Como en la lista de compañeros de apoyo, p. ej. es.

# Por qué no se aceptó un dato o el formulario.
referral-error-required = Este dato es obligatorio.
referral-error-choose = Elija una de las opciones.
referral-error-once = Envíe este dato una sola vez.
referral-error-not-accepted = Este valor no se acepta.
referral-error-unknown-field = Este formulario se envió con un dato que no tiene, así que no se registró nada. Vuelva a cargar la página e inténtelo de nuevo.
referral-error-too-long = Escriba como máximo 100 caracteres.
referral-error-one-line = Escríbalo en una sola línea.
referral-error-email = Escriba una dirección de correo electrónico: hasta 254 caracteres, con una @ y sin espacios.
referral-error-phone = Escriba un número de teléfono: un + opcional y de 3 a 32 dígitos, espacios, paréntesis o guiones.
referral-error-staff-id = Escriba el número de empleado tal como lo escribe su hospital.
referral-error-contact = Indique al menos una forma de contactarle: correo electrónico, teléfono o móvil. No se envió nada.
referral-error-own-staff-id = Para derivarse usted, use su propio número de empleado.
referral-error-campus = Elija un centro del programa.
referral-error-not-eligible = El programa de apoyo entre pares no atiende a esta profesión.
referral-error-preferences-of-others = Solo la propia persona puede indicar sus preferencias: déjelas en blanco cuando derive a otra persona.
referral-error-check = Revise esta respuesta.
referral-error-form = La derivación no se aceptó, así que no se envió nada. Revise las respuestas e inténtelo de nuevo.

# La página que sigue al envío de una derivación.
referred-title = Derivación enviada
referred-joined = Gracias. Ya se está contactando a esta persona: la derivación se suma a ese contacto, para que nadie le contacte dos veces.
referred-opened = Gracias. Se pedirá a un compañero de apoyo que se ponga en contacto por el medio indicado.
referred-another = Enviar otra derivación
