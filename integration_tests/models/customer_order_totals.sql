select c.customer_id, count(*) as order_count
from {{ ref('dim_customers') }} as c
join {{ ref('fct_order_lines') }} as o on o.customer_id = c.customer_id
group by c.customer_id
