"""Who may change a service's SLO: the one rule, checked in the transaction that writes.

An `sre_admin` acts on any service; a `service_owner` only on its own team's; every other role
reads. The rule used to run in the API before the store looked the service up again; now the
write looks the service up once and holds the caller's rights against that same row.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.errors import ForbiddenError
from store.service_lookup import ServiceRow


@dataclass(frozen=True)
class ActingRights:
    role: str
    team: str | None = None

    def require_for(self, service: ServiceRow) -> None:
        """Raise 403 unless these rights cover `service`."""
        if self.role == "sre_admin":
            return
        if self.role != "service_owner":
            raise ForbiddenError(f"Role '{self.role}' is read-only.")
        team = service.owning_team
        if not team or team != self.team:
            raise ForbiddenError(
                f"Service '{service.service_id}' belongs to team '{team or 'none'}'; this "
                f"principal may decide only for team '{self.team}'."
            )


#: The pipeline's and the CLI's rights: they act for the platform, on every service.
ON_ANY_SERVICE = ActingRights("sre_admin")
