# Django's English formats, with the time zone named (`T`: "UTC", "JST", "CET"): times are shown in the user's
# zone (config.timezones), so the page says which one.
DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
