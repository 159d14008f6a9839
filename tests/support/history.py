"""When generated history ends, for tests whose code under test asks for "the last N days"."""

from __future__ import annotations

from datetime import UTC, datetime

# Today's midnight (UTC): a fixed date would age out of the API's regeneration window and,
# eventually, out of any retention, turning a passing test into a calendar bomb.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
