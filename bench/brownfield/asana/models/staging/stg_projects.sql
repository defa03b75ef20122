select
    id as project_id,
    name as project_name,
    owner_id,
    team_id,
    archived as is_archived,
    created_at
from {{ source('asana', 'project') }}
