-- One row per calendar day: French public holidays (metropolitan France, as the `holidays`
-- package and the simulator define them), the business-day flag and the business window
-- (Mon-Fri 08:00-18:00 Paris) the business-hours durations are measured against.
with days as (
    select calendar_day::date as date_day
    from generate_series(
            date '{{ var("calendar_start") }}', date '{{ var("calendar_end") }}', interval '1 day'
        ) as series (calendar_day)
),

years as (
    select distinct extract(year from date_day)::int as year_number
    from days
),

-- Easter Sunday (anonymous Gregorian algorithm); Easter Monday, Ascension and Whit Monday follow it
easter as (
    select
        year_number,
        make_date(year_number, (h + l - 7 * m + 114) / 31, (h + l - 7 * m + 114) % 31 + 1) as easter_sunday
    from (
        select
            year_number,
            h,
            l,
            (a + 11 * h + 22 * l) / 451 as m
        from (
            select
                year_number,
                a,
                h,
                (32 + 2 * e + 2 * i - h - k) % 7 as l
            from (
                select
                    year_number,
                    year_number % 19 as a,
                    (year_number / 100) % 4 as e,
                    (year_number % 100) / 4 as i,
                    (year_number % 100) % 4 as k,
                    (
                        19 * (year_number % 19) + year_number / 100 - (year_number / 100) / 4
                        - ((year_number / 100) - ((year_number / 100) + 8) / 25 + 1) / 3 + 15
                    ) % 30 as h
                from years
            ) as step_1
        ) as step_2
    ) as step_3
),

fixed_holidays as (
    select
        make_date(years.year_number, fixed.month_number, fixed.day_number) as holiday_date,
        fixed.holiday_name
    from years
    cross join (
        values
        (1, 1, 'Jour de l''an'),
        (5, 1, 'Fête du Travail'),
        (5, 8, 'Victoire 1945'),
        (7, 14, 'Fête nationale'),
        (8, 15, 'Assomption'),
        (11, 1, 'Toussaint'),
        (11, 11, 'Armistice 1918'),
        (12, 25, 'Noël')
    ) as fixed (month_number, day_number, holiday_name)
),

easter_holidays as (
    select
        easter.easter_sunday + movable.days_after_easter as holiday_date,
        movable.holiday_name
    from easter
    cross join (
        values
        (1, 'Lundi de Pâques'),
        (39, 'Ascension'),
        (50, 'Lundi de Pentecôte')
    ) as movable (days_after_easter, holiday_name)
),

holidays as (
    select * from fixed_holidays
    union all
    select * from easter_holidays
),

-- a holiday on another holiday (Ascension on 1 or 8 May) is one day off
holiday_days as (
    select
        holiday_date,
        string_agg(holiday_name, ' / ' order by holiday_name) as holiday_name
    from holidays
    group by holiday_date
),

calendar as (
    select
        days.date_day,
        extract(year from days.date_day)::integer as year_number,
        extract(quarter from days.date_day)::integer as quarter_number,
        extract(month from days.date_day)::integer as month_number,
        extract(day from days.date_day)::integer as day_of_month,
        extract(doy from days.date_day)::integer as day_of_year,
        extract(isoyear from days.date_day)::integer as iso_year,
        extract(week from days.date_day)::integer as iso_week,
        extract(isodow from days.date_day)::integer as iso_weekday,
        date_trunc('week', days.date_day)::date as week_start,
        date_trunc('month', days.date_day)::date as month_start,
        date_trunc('quarter', days.date_day)::date as quarter_start,
        date_trunc('year', days.date_day)::date as year_start,
        holiday_days.holiday_name,
        holiday_days.holiday_date is not null as is_public_holiday,
        extract(isodow from days.date_day) >= 6 as is_weekend
    from days
    left join holiday_days on days.date_day = holiday_days.holiday_date
)

select
    date_day,
    year_number,
    quarter_number,
    month_number,
    day_of_month,
    day_of_year,
    iso_year,
    iso_week,
    iso_year::text || '-W' || lpad(iso_week::text, 2, '0') as iso_week_label,
    iso_weekday,
    (array['lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche'])[iso_weekday] as day_name_fr,
    (array[
        'janvier', 'février', 'mars', 'avril', 'mai', 'juin',
        'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'
    ])[month_number] as month_name_fr,
    week_start,
    month_start,
    quarter_start,
    year_start,
    date_day = (month_start + interval '1 month' - interval '1 day')::date as is_month_end,
    is_weekend,
    is_public_holiday,
    holiday_name,
    not is_weekend and not is_public_holiday as is_business_day,
    case when not is_weekend and not is_public_holiday then {{ business_day_opens_at('date_day') }} end
        as business_opens_at,
    case when not is_weekend and not is_public_holiday then {{ business_day_closes_at('date_day') }} end
        as business_closes_at,
    -- 23 or 25 hours on the days the clocks change
    extract(epoch from (
        ((date_day + 1)::timestamp at time zone '{{ var("local_timezone") }}')
        - (date_day::timestamp at time zone '{{ var("local_timezone") }}')
    ))::integer / 3600 as hours_in_day
from calendar
