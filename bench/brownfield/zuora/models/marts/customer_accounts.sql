with payments as (
    select
        account_id,
        count(*) as payment_count,
        sum(amount) as total_paid,
        min(paid_on) as first_paid_on,
        max(paid_on) as last_paid_on
    from {{ ref('stg_payments') }}
    group by account_id
)

select
    accounts.account_id,
    accounts.account_name,
    accounts.account_status,
    accounts.currency,
    coalesce(payments.payment_count, 0) as payment_count,
    coalesce(payments.total_paid, 0) as total_paid,
    payments.first_paid_on,
    payments.last_paid_on
from {{ ref('stg_accounts') }} as accounts
left join payments on payments.account_id = accounts.account_id
