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
