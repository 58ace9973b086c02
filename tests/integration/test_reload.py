"""Reload: a broken config is refused with file:line and the old policy
keeps running; a good one (SIGHUP or mitmctl reload) takes effect, with
RELOADING=1 then READY=1 sent to the service manager."""

import re

from pylib import client, util

TUNNEL = ['tunnel host "127.0.0.1"']
BLOCK = ['block host "127.0.0.1"']
APPLY_TIMEOUT = 10


def _status(m, origin):
    s, resp, _ = client.proxy_connect(m.proxy_port, origin.hostport)
    s.close()
    return resp.status


def _broken(m, rules):
    """Write a config with a syntax error; returns its line number."""
    text, _ = m.config_text(rules)
    lines = text.splitlines()
    lines.append("frobnicate the widgets")
    m.write_config(raw="\n".join(lines) + "\n")
    return len(lines)


def test_sighup_broken_config_keeps_old(mitmd_factory, https_origin):
    m = mitmd_factory(rules=TUNNEL)
    assert _status(m, https_origin) == 200
    before = m.by_role()
    line = _broken(m, BLOCK)
    mark, nmark = m.syslog.mark(), m.notify.mark()
    m.sighup()
    m.wait_log(re.escape(f"{m.conf}:{line}:"), start=mark)
    m.wait_log(r"reload refused", start=mark)
    m.notify.wait_for(r"^RELOADING=1$", start=nmark)
    m.notify.wait_for(r"^READY=1$", start=nmark)
    # The old policy (tunnel) is still the one in force.
    assert _status(m, https_origin) == 200
    r = client.tunnel_tls(m.proxy_port, https_origin, "/bytes/100")
    assert r.status == 200
    assert m.by_role() == before
    assert m.alive()


def test_mitmctl_reload_broken_config_reports(mitmd_factory, https_origin):
    m = mitmd_factory(rules=TUNNEL)
    line = _broken(m, BLOCK)
    p = m.reload()
    assert p.returncode != 0
    assert f"{m.conf}:{line}:" in p.stderr + p.stdout, p
    assert _status(m, https_origin) == 200


def test_mitmctl_reload_new_policy(mitmd_factory, https_origin):
    m = mitmd_factory(rules=TUNNEL)
    assert _status(m, https_origin) == 200
    before = m.by_role()
    m.write_config(BLOCK)
    mark, nmark = m.syslog.mark(), m.notify.mark()
    p = m.reload()
    assert p.returncode == 0, p.stderr
    m.notify.wait_for(r"^RELOADING=1$", start=nmark)
    m.notify.wait_for(r"^READY=1$", start=nmark)
    m.wait_log(r"configuration reloaded", start=mark)
    util.wait_until(lambda: _status(m, https_origin) == 403, APPLY_TIMEOUT,
                    "the new block rule to apply")
    https_origin.reset()
    assert _status(m, https_origin) == 403
    assert https_origin.connections == 0
    idx, line = m.rule("127.0.0.1")
    m.wait_audit(start=mark, action="block", rule=idx, line=line)
    # Reload does not restart anybody.
    assert m.by_role() == before


def test_sighup_new_policy_and_back(mitmd_factory, https_origin):
    m = mitmd_factory(rules=TUNNEL)
    m.write_config(BLOCK)
    m.sighup()
    util.wait_until(lambda: _status(m, https_origin) == 403, APPLY_TIMEOUT,
                    "block after SIGHUP")
    m.write_config(TUNNEL)
    m.sighup()
    util.wait_until(lambda: _status(m, https_origin) == 200, APPLY_TIMEOUT,
                    "tunnel after the second SIGHUP")
    r = client.tunnel_tls(m.proxy_port, https_origin, "/bytes/10")
    assert r.status == 200


def test_reload_acl(mitmd_factory, https_origin):
    """allow from takes effect on reload too (the acceptor's ACL)."""
    m = mitmd_factory(rules=TUNNEL)
    assert _status(m, https_origin) == 200
    m.write_config(TUNNEL, extra=["allow from 10.0.0.0/8"])
    assert m.reload().returncode == 0

    def refused():
        try:
            _status(m, https_origin)
        except (ConnectionError, OSError):
            return True
        return False
    util.wait_until(refused, APPLY_TIMEOUT, "the new ACL to refuse us")
