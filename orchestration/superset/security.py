"""The "Business viewer" role and the demo viewer account, kept in shape through the REST API.

The role is an explicit allow-list: read dashboards and charts, open them in Explore without saving, use
dashboard filters, and read exactly the datasets the dashboards use. It has no SQL Lab, no database
access (so no table outside those datasets), no write permission; it may download a chart's own data as CSV
(can_csv), which shows nothing the chart does not.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from orchestration.superset.client import SupersetClient, SupersetError

log = logging.getLogger(__name__)

VIEWER_ROLE = "Business viewer"
VIEWER_USERNAME = "viewer"

# (permission, view menu) pairs of the role besides its datasets.
VIEWER_PERMISSIONS: tuple[tuple[str, str], ...] = (
    # dashboards and charts, read-only
    ("can_read", "Dashboard"), ("can_read", "Chart"), ("can_dashboard", "Superset"), ("can_slice", "Superset"),
    ("menu_access", "Dashboards"), ("menu_access", "Charts"), ("menu_access", "Home"),
    ("can_drill", "Dashboard"), ("can_view_chart_as_table", "Dashboard"), ("can_get_drill_info", "Dataset"),
    # native filters and shareable links keep their state through these
    ("can_read", "DashboardFilterStateRestApi"), ("can_write", "DashboardFilterStateRestApi"),
    ("can_read", "DashboardPermalinkRestApi"), ("can_write", "DashboardPermalinkRestApi"),
    ("can_share_dashboard", "Superset"), ("can_share_chart", "Superset"),
    # chart data and Explore (read-only: no can_write on Chart)
    ("can_explore", "Superset"), ("can_explore_json", "Superset"), ("can_read", "Explore"),
    ("can_read", "ExploreFormDataRestApi"), ("can_write", "ExploreFormDataRestApi"),
    ("can_read", "ExplorePermalinkRestApi"), ("can_write", "ExplorePermalinkRestApi"),
    ("can_time_range", "Api"), ("can_query", "Api"), ("can_query_form_data", "Api"),
    ("can_get", "Datasource"), ("can_fetch_datasource_metadata", "Superset"), ("can_csv", "Superset"),
    # the datasets behind the dashboards (the list shows only those the role can access)
    ("can_read", "Dataset"), ("menu_access", "Datasets"),
    # the application shell (the CSRF token the pages send with their writes comes from SecurityRestApi)
    ("can_read", "SecurityRestApi"), ("can_read", "CurrentUserRestApi"),
    ("can_userinfo", "UserDBModelView"), ("resetmypassword", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"), ("can_this_form_post", "ResetMyPasswordView"),
    ("can_log", "Superset"), ("can_recent_activity", "Log"), ("can_get", "MenuApi"),
    ("can_language_pack", "Superset"), ("can_read", "AvailableDomains"), ("can_list", "AsyncEventsRestApi"),
    ("can_list", "DynamicPlugin"), ("can_show", "DynamicPlugin"), ("can_read", "Theme"), ("can_read", "CssTemplate"),
    ("can_read", "AdvancedDataType"),
)


@dataclass(frozen=True)
class DatasetRef:
    id: int
    table_name: str
    database_name: str

    @property
    def perm(self) -> str:
        """The view menu Superset names a dataset's datasource_access permission after."""
        return f"[{self.database_name}].[{self.table_name}](id:{self.id})"


def _role_id(client: SupersetClient, name: str) -> int:
    for role in client.list_all("security/roles"):
        if role["name"] == name:
            return int(role["id"])
    return int(client.post("/api/v1/security/roles/", json={"name": name})["id"])


def ensure_viewer_role(client: SupersetClient, datasets: Iterable[DatasetRef]) -> int:
    """Create or update the role so it holds exactly VIEWER_PERMISSIONS plus access to `datasets`."""
    wanted = set(VIEWER_PERMISSIONS) | {("datasource_access", d.perm) for d in datasets}
    ids: dict[tuple[str, str], int] = {}
    for row in client.list_all("security/permissions-resources"):
        pair = (row["permission"]["name"], row["view_menu"]["name"])
        if pair in wanted:
            ids[pair] = int(row["id"])
    missing = sorted(wanted - set(ids))
    if missing:
        raise SupersetError(f"Superset has no permission(s) {missing}: was `superset init` run?")
    role_id = _role_id(client, VIEWER_ROLE)
    # This endpoint replaces the role's permissions with the list given.
    client.post(
        f"/api/v1/security/roles/{role_id}/permissions", json={"permission_view_menu_ids": sorted(ids.values())}
    )
    log.info("role %s: %d permissions (%d datasets)", VIEWER_ROLE, len(ids), len(wanted) - len(VIEWER_PERMISSIONS))
    return role_id


def ensure_user(client: SupersetClient, username: str, password: str, role_id: int, first_name: str = "Demo",
                last_name: str = "Viewer") -> int:
    """Create the account, or reset its password and role to the ones given."""
    body = {"first_name": first_name, "last_name": last_name, "active": True, "roles": [role_id],
            "password": password, "email": f"{username}@comptoir.invalid"}
    for user in client.list_all("security/users", columns=["id", "username"]):
        if user["username"] == username:
            client.put(f"/api/v1/security/users/{user['id']}", json=body)
            return int(user["id"])
    return int(client.post("/api/v1/security/users/", json={**body, "username": username})["id"])
