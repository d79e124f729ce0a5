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

# La hoja de recursos: el directorio del programa, primero las líneas de crisis. Los nombres,
# números y horarios de cada entrada son los del programa, tal como se configuran.
email-resources-subject = Apoyo entre pares: a dónde acudir
email-resources-intro =
    El programa de apoyo entre pares quiere que tenga esta lista de lugares a los que
    acudir, ahora o en cualquier momento. Todos son confidenciales y ninguno necesita
    que lo derivemos.
email-resources-crisis =
    Si está en crisis o piensa en hacerse daño, llame o envíe un mensaje de texto ahora
    a una de las líneas de crisis de arriba, o vaya al servicio de urgencias más cercano.
resources-phone = Teléfono
resources-web = Web
resources-hours = Horario
resources-languages = Idiomas
resource-kind-peer = Apoyo entre pares
resource-kind-eap = Programa de asistencia al empleado (EAP)
resource-kind-psychology = Psicología
resource-kind-psychiatry = Psiquiatría
resource-kind-chaplaincy = Capellanía
resource-kind-crisis_line = Línea de crisis
resource-kind-other = Otra ayuda
