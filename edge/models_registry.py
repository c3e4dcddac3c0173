"""Imports every table module so SQLModel.metadata is complete (Alembic, tests)."""

from edge.access import models as access_models
from edge.cameras import models as camera_models
from edge.checkout import models as checkout_models
from edge.facepay import models as facepay_models
from edge.fitting import models as fitting_models
from edge.platform import audit, outbox
from edge.platform import mqttqueue as mqtt_queue
from edge.scanning import models as scanning_models
from edge.sync import models as sync_models

TABLE_MODULES = (
    audit,
    access_models,
    camera_models,
    checkout_models,
    facepay_models,
    fitting_models,
    mqtt_queue,
    scanning_models,
    sync_models,
    outbox,
)
