-- The technicians' app has no customer list: it knows a customer code through the visits booked
-- for it. One row per customer code: the latest visit's view of the customer (name, phone, city)
-- and the day of its first booking. Identity resolution, the golden record and the unmatched
-- records all read it.
with visits as (
    select * from {{ ref('stg_app__interventions') }}
    where customer_code is not null
),

latest as (
    select distinct on (customer_code)
        customer_code,
        customer_name,
        customer_phone_e164,
        city,
        postal_code
    from visits
    order by customer_code, updated_at desc
),

first_bookings as (
    select
        customer_code,
        min({{ local_date('created_at') }}) as first_booking_date
    from visits
    group by customer_code
)

select
    latest.customer_code,
    latest.customer_name,
    latest.customer_phone_e164,
    latest.city,
    latest.postal_code,
    first_bookings.first_booking_date
from latest
inner join first_bookings on latest.customer_code = first_bookings.customer_code
