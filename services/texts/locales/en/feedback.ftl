# The feedback page, reached through the one-time link of the feedback invitation.

feedback-title = Your feedback on peer support
feedback-intro = This is optional and anonymous: your answers are kept without your name, your case or this link. The link works once.
feedback-helpfulness = How helpful was the peer support?
feedback-helpfulness-1 = 1 – not at all helpful
feedback-helpfulness-2 = 2 – a little helpful
feedback-helpfulness-3 = 3 – somewhat helpful
feedback-helpfulness-4 = 4 – helpful
feedback-helpfulness-5 = 5 – very helpful
feedback-recommend = Would you recommend peer support to a colleague?
feedback-yes = Yes
feedback-no = No
feedback-send = Send my feedback
feedback-form-error = Your feedback was not sent: please answer the questions marked below.
feedback-choose-rating = Choose how helpful it was, from 1 to 5.
feedback-choose-yes-no = Choose yes or no.
feedback-thanks-title = Thank you
feedback-thanks = Your feedback has been recorded, anonymously. Thank you for helping us improve peer support.
feedback-used-title = This link has been used
feedback-used = Feedback has already been given through this link, and each link takes one answer. Nothing was changed.
feedback-unknown-title = This link does not work
feedback-unknown = This is not a feedback link of the peer support program, or it was copied incompletely: check the link in your e-mail. A link sent before the program last changed its security keys no longer works either, and no feedback can be given through it. Nothing was recorded.
feedback-wait-title = Please wait
feedback-wait = { $seconds ->
    [one] Too many answers came through this link just now. Please try again in one second.
   *[other] Too many answers came through this link just now. Please try again in { $seconds } seconds.
}
