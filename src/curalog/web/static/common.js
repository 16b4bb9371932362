// The per-run token: taken from ?token= once, kept for this tab, sent only in a header.
"use strict";
const curalog = (() => {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem("curalog-token", fromUrl);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  const token = sessionStorage.getItem("curalog-token") || "";
  const state = document.getElementById("token-state");
  if (state) state.hidden = Boolean(token);

  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Curalog-Token": token },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { detail: resp.statusText }; }
    return { ok: resp.ok, status: resp.status, data };
  }
  async function get(url) {
    const resp = await fetch(url, { headers: { Accept: "application/json", "X-Curalog-Token": token } });
    if (!resp.ok) throw new Error(url + ": " + resp.status);
    return resp.json();
  }
  return { token, post, get };
})();
