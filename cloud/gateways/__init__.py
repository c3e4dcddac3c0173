"""Honest simulators of the Alipay and WeChat Pay gateways, for tests, benches and demos.

The real gateways cannot be reached from the machines the box is tested on; these speak the real
documented protocols (RSA2 JSON and signed XML) so the real SDKs talk to them by base URL alone,
and their ledgers say what money was really taken.
"""

from cloud.gateways.alipay import AlipaySimulator
from cloud.gateways.base import Behaviour, new_rsa_pair
from cloud.gateways.wechat import WeChatPaySimulator

__all__ = ["AlipaySimulator", "Behaviour", "WeChatPaySimulator", "new_rsa_pair"]
