"""Imports every model module so that each registers itself (add one line per new model family)."""

from geostp.models import baselines  # noqa: F401
from geostp.models import stlight  # noqa: F401
from geostp.models import simvp  # noqa: F401
from geostp.models import convlstm  # noqa: F401
from geostp.models import vip_mixer  # noqa: F401
from geostp.models import swinlstm  # noqa: F401
from geostp.models import s_hr_vqvae  # noqa: F401
