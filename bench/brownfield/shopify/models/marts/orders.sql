with paid as (
    select
        order_id,
        count(*) as transaction_count,
        sum(amount) as amount_paid
    from {{ ref('stg_transactions') }}
    group by order_id
)

select
    orders.order_id,
    orders.customer_id,
    orders.order_name,
    orders.financial_status,
    orders.total_price,
    orders.ordered_at,
    coalesce(paid.transaction_count, 0) as transaction_count,
    coalesce(paid.amount_paid, 0) as amount_paid
from {{ ref('stg_orders') }} as orders
left join paid on paid.order_id = orders.order_id
