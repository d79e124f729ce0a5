# What every page a member reads shows around its content, and how a moment is written.

site-name = Peer support
skip-to-content = Skip to content
footer-note = Only the fact that a conversation took place is ever recorded here: no notes, and no clinical detail.
required = (required)
error-prefix = Error:
sign-out = Sign out
nav-my-support = My support
nav-ask-for-support = Ask for support
nav-label = Your pages

# A moment: day, month, year and the time in the program's time zone.
date-time = { $day } { $month ->
        [1] January
        [2] February
        [3] March
        [4] April
        [5] May
        [6] June
        [7] July
        [8] August
        [9] September
        [10] October
        [11] November
       *[12] December
    } { $year } at { $time }

# How long until a moment, in whole hours (rounded up).
hours-left = { $hours ->
        [0] now
    [one] within an hour
   *[other] within { $hours } hours
}
overdue = overdue
