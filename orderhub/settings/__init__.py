"""Settings for OrderHub, split by concern. Every value comes from the environment (README)."""

from orderhub.settings.alerts import *  # noqa: F403
from orderhub.settings.api import *  # noqa: F403
from orderhub.settings.cache import *  # noqa: F403
from orderhub.settings.channels import *  # noqa: F403
from orderhub.settings.core import *  # noqa: F403
from orderhub.settings.customers import *  # noqa: F403
from orderhub.settings.database import *  # noqa: F403
from orderhub.settings.ledger import *  # noqa: F403
from orderhub.settings.security import *  # noqa: F403
from orderhub.settings.tasks import *  # noqa: F403
