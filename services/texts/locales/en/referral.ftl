# The referral form, reached from "Ask for support": refer oneself or a colleague. Who to reach
# and how; never what happened.

referral-title = Refer for peer support
referral-intro = Refer yourself, or a colleague you are concerned about, to a trained peer supporter: a colleague who will contact them, listen, and offer resources. Say who to reach and how; never what happened.
referral-form-title = Referral
referral-send = Send referral
referral-choose = Choose…
referral-not-stated = Not stated
referral-who = Who is referring
referral-who-self = Self
referral-who-colleague = Colleague
referral-who-supervisor = Supervisor
referral-staff-id = Staff id of the person to support
referral-staff-id-hint = Your own, when you refer yourself.
referral-given-name = Given name
referral-family-name = Family name
referral-role = Role
referral-role-hint = For example: registered nurse.
referral-discipline = Discipline
referral-discipline-physician = Physician
referral-discipline-resident = Resident
referral-discipline-fellow = Fellow
referral-discipline-nurse = Nurse
referral-discipline-pharmacist = Pharmacist
referral-discipline-respiratory_therapist = Respiratory therapist
referral-discipline-physical_therapist = Physical therapist
referral-discipline-social_work = Social work
referral-discipline-spiritual_care = Spiritual care
referral-discipline-supervisor = Supervisor
referral-discipline-allied_health = Allied health
referral-discipline-other = Other
referral-department = Department
referral-seniority = Seniority
referral-seniority-trainee = Trainee
referral-seniority-early_career = Early career
referral-seniority-mid_career = Mid career
referral-seniority-senior = Senior
referral-campus = Campus
referral-unit = Unit
referral-email = E-mail
referral-email-hint = At least one way to reach them: e-mail, phone or mobile.
referral-phone = Phone
referral-mobile = Mobile
referral-channel = Preferred channel
referral-supporter-gender = Preferred supporter: gender
referral-supporter-gender-hint = Preferences can be stated only when you refer yourself.
referral-supporter-specialty = Preferred supporter: specialty
referral-supporter-department = Preferred supporter: department
referral-supporter-seniority = Preferred supporter: seniority
referral-supporter-language = Preferred supporter: language
referral-supporter-language-hint = As on the roster, e.g. es.

# Why a field or the form was not taken.
referral-error-required = This is required.
referral-error-choose = Choose one of the options.
referral-error-once = Send this field once.
referral-error-not-accepted = This value is not accepted.
referral-error-unknown-field = This form was sent with a field it does not have, so nothing was recorded. Reload the page and try again.
referral-error-too-long = Write at most 100 characters.
referral-error-one-line = Write this on one line.
referral-error-email = Enter an e-mail address: up to 254 characters, with an @ and no spaces.
referral-error-phone = Enter a phone number: an optional + and 3 to 32 digits, spaces, brackets or dashes.
referral-error-staff-id = Enter a staff id as your hospital writes it.
referral-error-contact = Give at least one way to reach them: e-mail, phone or mobile. Nothing was sent.
referral-error-own-staff-id = A self-referral is made with your own staff id.
referral-error-campus = Choose a campus of the program.
referral-error-not-eligible = The peer support program does not serve this discipline.
referral-error-preferences-of-others = Only the person themselves can state their preferences: leave these empty when you refer someone else.
referral-error-check = Check this answer.
referral-error-form = The referral was not accepted, so nothing was sent. Check the answers and try again.

# The page after a referral is sent.
referred-title = Referral sent
referred-joined = Thank you. This person already has outreach under way: the referral joins it, so nobody contacts them twice.
referred-opened = Thank you. A peer supporter will be asked to get in touch, by the channel given.
referred-another = Send another referral
