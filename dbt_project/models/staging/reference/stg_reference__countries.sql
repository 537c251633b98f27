{#- Country reference: every spelling we have seen, normalised (lower case, no dots, trimmed),
    mapped to one canonical English name and its ISO 3166-1 alpha-2 code. Add a row when the
    data-quality mart lists an unrecognised country. -#}

with aliases (alias, country_code) as (

    values
    ('france', 'FR'), ('fr', 'FR'), ('fra', 'FR'), ('république française', 'FR'),
    ('republique francaise', 'FR'), ('frankreich', 'FR'),
    ('germany', 'DE'), ('de', 'DE'), ('deu', 'DE'), ('deutschland', 'DE'), ('allemagne', 'DE'),
    ('united kingdom', 'GB'), ('uk', 'GB'), ('gb', 'GB'), ('gbr', 'GB'), ('great britain', 'GB'),
    ('england', 'GB'), ('scotland', 'GB'), ('wales', 'GB'), ('royaume-uni', 'GB'),
    ('united states', 'US'), ('us', 'US'), ('usa', 'US'), ('united states of america', 'US'),
    ('america', 'US'), ('états-unis', 'US'), ('etats-unis', 'US'),
    ('spain', 'ES'), ('es', 'ES'), ('esp', 'ES'), ('españa', 'ES'), ('espana', 'ES'), ('espagne', 'ES'),
    ('italy', 'IT'), ('it', 'IT'), ('ita', 'IT'), ('italia', 'IT'), ('italie', 'IT'),
    ('netherlands', 'NL'), ('nl', 'NL'), ('nld', 'NL'), ('the netherlands', 'NL'), ('holland', 'NL'),
    ('nederland', 'NL'), ('pays-bas', 'NL'),
    ('belgium', 'BE'), ('be', 'BE'), ('bel', 'BE'), ('belgique', 'BE'), ('belgië', 'BE'),
    ('belgie', 'BE'), ('belgien', 'BE'),
    ('canada', 'CA'), ('ca', 'CA'), ('can', 'CA'), ('kanada', 'CA')

),

names (country_code, country_name) as (

    values
    ('FR', 'France'), ('DE', 'Germany'), ('GB', 'United Kingdom'), ('US', 'United States'),
    ('ES', 'Spain'), ('IT', 'Italy'), ('NL', 'Netherlands'), ('BE', 'Belgium'), ('CA', 'Canada')

)

select
    aliases.alias,
    aliases.country_code,
    names.country_name
from aliases
inner join names on aliases.country_code = names.country_code
