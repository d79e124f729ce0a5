# E-mails sent to a member. Plain text: line breaks are kept as written.

email-feedback-subject = Peer support: two questions, if you wish (anonymous)
email-feedback-body =
    Hello { $name },

    Thank you for talking with a peer supporter. If you would like to tell the peer
    support program how helpful it was, there are two questions for you here:

    { $link }

    Answering is optional, and anonymous: your answers are kept without your name,
    your case or this link, and only totals are ever reported, with small numbers
    left out. The link works once.

# The resource sheet: the program's directory, crisis lines first. Entries' names, numbers and
# hours are the program's own, as configured.
email-resources-subject = Peer support: places to turn to
email-resources-intro =
    The peer support program would like you to have this list of places to turn to,
    now or at any time. Each is confidential, and none of them needs a referral from
    us.
email-resources-crisis =
    If you are in crisis or thinking about harming yourself, call or text a crisis
    line above now, or go to the nearest emergency department.
resources-phone = Phone
resources-web = Web
resources-hours = Hours
resources-languages = Languages
resource-kind-peer = Peer support
resource-kind-eap = Employee assistance (EAP)
resource-kind-psychology = Psychology
resource-kind-psychiatry = Psychiatry
resource-kind-chaplaincy = Chaplaincy
resource-kind-crisis_line = Crisis line
resource-kind-other = Other help
