# Django's Japanese formats, with the time zone named (`T`: "JST", "UTC"): times are shown in the user's zone
# (config.timezones), so the page says which one.
DATETIME_FORMAT = "Y年n月j日 G:i T"
SHORT_DATETIME_FORMAT = "Y/m/d G:i T"
