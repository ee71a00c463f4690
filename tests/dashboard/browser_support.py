"""Helpers of the browser tests: doors shut, tokens and API calls, the contrast check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from gateway.domain import DoorState
from tests.dashboard.conftest import PASSWORD, DashSite, wait_until


async def close_door(dash: DashSite, door: str) -> None:
    """Let a door shut and wait until the gateway has it locked and the strike is off."""
    if dash.h.sim.door_view(door)["open"]:
        await dash.h.sim.door(door, "close")
    await wait_until(
        lambda: (
            dash.h.door_state(door) is DoorState.LOCKED
            and not dash.h.sim.door_view(door)["strike_released"]
        ),
        20,
        f"{door} shut and locked",
    )


async def token_for(dash: DashSite, username: str) -> str:
    """A bearer token for one of the role accounts."""
    async with httpx.AsyncClient(base_url=dash.base_url) as client:
        resp = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["access_token"]
    return token


@asynccontextmanager
async def api_as(dash: DashSite, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the served API, signed in as one of the role accounts."""
    token = await token_for(dash, username)
    async with httpx.AsyncClient(
        base_url=dash.base_url + "/api/v1", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


# Contrast ratio (WCAG 2) of every visible text node's colour against the first opaque
# background behind it; returns the offenders.
CONTRAST_CHECK = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 0.99) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || !el.checkVisibility() || el.closest('.sr-only, svg')) continue;
    const fg = parse(getComputedStyle(el).color);
    const bg = background(el);
    if (!fg || !bg) continue;
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) low.push(`${n.textContent.trim().slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return low;
}
"""
