select
    projects.project_id,
    projects.project_name,
    projects.is_archived,
    projects.created_at,
    owners.user_name as owner_name,
    teams.team_name
from {{ ref('stg_projects') }} as projects
left join {{ ref('stg_users') }} as owners on owners.user_id = projects.owner_id
left join {{ ref('stg_teams') }} as teams on teams.team_id = projects.team_id
