"""ARI to a remote Asterisk over https and wss (issue 14): a real TLS endpoint (the fake ARI server behind a
certificate signed by a CA made here), a client that trusts the CA and one that does not."""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from callcenter import config as configuration
from callcenter.ari.client import AriCertificateError, AriClient

from ..pki import Pki, make_pki
from .fake_ari import FakeAriServer, channel_json
from .test_ari_client import APP, Recorder, event


@dataclass
class TlsAsterisk:
    fake: FakeAriServer
    url: str
    pki: Pki


@pytest.fixture
async def tls_asterisk(tmp_path) -> AsyncIterator[TlsAsterisk]:
    """The fake ARI server on https://127.0.0.1:<port> with the CA-signed certificate."""
    pki = make_pki(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.cert_file, pki.key_file)
    fake = FakeAriServer()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield TlsAsterisk(fake, f"https://127.0.0.1:{port}", pki)
    finally:
        await runner.cleanup()


async def test_given_asterisk_over_https_when_client_trusts_its_ca_then_rest_and_wss_events_work(
        tls_asterisk):
    fake = tls_asterisk.fake
    fake.channels = [channel_json("c1")]
    fake.events_per_connection = [[event("StasisStart", "c1")]]
    ari = AriClient(tls_asterisk.url, "callcenter", "s3cret", APP, ca_file=str(tls_asterisk.pki.ca_file))
    await ari.start()
    recorder = Recorder()
    task = asyncio.create_task(ari.run(recorder.on_event, recorder.on_connected))
    try:
        channels = await ari.channels()
        await recorder.until(lambda: "StasisStart:c1" in recorder.seen)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ari.close()

    assert [c.id for c in channels] == ["c1"]
    assert recorder.seen == ["connected", "StasisStart:c1"]   # the events websocket: wss:// on the same port
    assert fake.connections[0].query["app"] == APP and fake.connections[0].authorization.startswith("Basic ")


async def test_given_asterisk_over_https_when_client_lacks_its_ca_then_clear_error_and_nothing_sent(
        tls_asterisk, caplog):
    ari = AriClient(tls_asterisk.url, "callcenter", "s3cret", APP, reconnect_max_delay=0.2)
    await ari.start()
    recorder = Recorder()
    try:
        with pytest.raises(AriCertificateError) as caught:
            await ari.channels()
        task = asyncio.create_task(ari.run(recorder.on_event, recorder.on_connected))
        while "TLS certificate was not accepted" not in caplog.text:
            await asyncio.sleep(0.05)   # polls the log: the reconnect loop reports the same refusal
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await ari.close()

    message = str(caught.value)
    assert "TLS certificate was not accepted" in message and "certificate verify failed" in message
    assert "[ari] ca_file" in message
    assert tls_asterisk.fake.requests == [] and tls_asterisk.fake.connections == []
    assert recorder.seen == [] and not ari.connected.is_set()


async def test_given_another_ca_file_when_connecting_then_refused_as_well(tls_asterisk, tmp_path):
    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other")   # a CA of the same name that did not sign Asterisk's certificate
    ari = AriClient(tls_asterisk.url, "callcenter", "s3cret", APP, ca_file=str(other.ca_file))
    await ari.start()
    try:
        with pytest.raises(AriCertificateError):
            await ari.channels()
    finally:
        await ari.close()


@pytest.mark.parametrize("url, ca_file, problem", [
    ("http://pbx.example.org:8088", "/etc/ssl/hospital-ca.pem", "ari.ca_file"),
    ("ftp://pbx.example.org", "", "ari.url"),
    ("pbx.example.org:8089", "", "ari.url"),
])
def test_given_ari_url_and_ca_file_that_do_not_fit_when_loaded_then_config_error(tmp_path, url, ca_file,
                                                                                 problem):
    env = {"CALLCENTER_ARI_URL": url, "CALLCENTER_ARI_CA_FILE": ca_file}

    with pytest.raises(configuration.ConfigError, match=problem):
        configuration.load(config_file=tmp_path / "absent.toml", env=env)


def test_given_https_url_with_ca_file_when_loaded_then_kept(tmp_path):
    env = {"CALLCENTER_ARI_URL": "https://pbx.example.org:8089", "CALLCENTER_ARI_CA_FILE": "/etc/ca.pem"}

    cfg = configuration.load(config_file=tmp_path / "absent.toml", env=env)

    assert (cfg.ari.url, cfg.ari.ca_file) == ("https://pbx.example.org:8089", "/etc/ca.pem")
