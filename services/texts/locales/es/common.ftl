# Lo que toda página que lee un miembro muestra alrededor de su contenido, y cómo se escribe un momento.

site-name = Apoyo entre pares
skip-to-content = Ir al contenido
footer-note = Aquí solo se registra que una conversación tuvo lugar: ninguna nota y ningún detalle clínico.
required = (obligatorio)
error-prefix = Error:
sign-out = Cerrar sesión
nav-my-support = Mi apoyo
nav-ask-for-support = Pedir apoyo
nav-label = Sus páginas

# Un momento: día, mes, año y la hora en la zona horaria del programa.
date-time = { $day } de { $month ->
        [1] enero
        [2] febrero
        [3] marzo
        [4] abril
        [5] mayo
        [6] junio
        [7] julio
        [8] agosto
        [9] septiembre
        [10] octubre
        [11] noviembre
       *[12] diciembre
    } de { $year }, a las { $time }

# Cuánto falta para un momento, en horas enteras (redondeadas hacia arriba).
hours-left = { $hours ->
        [0] ahora
    [one] en menos de una hora
   *[other] en menos de { $hours } horas
}
overdue = con retraso
