/* The pairing page: asks the admin for the session's progress every few seconds, renews the QR
 * image before the gateway's expires, and asks for a pairing code on request. Plain DOM, no
 * inline code: the page works under a Content-Security-Policy of `script-src 'self'`. Every text
 * it shows comes translated from the page (data attributes) or the admin's answers. */
"use strict";

(function () {
    const root = document.getElementById("pairing");
    if (!root) {
        return;
    }
    const byId = (id) => document.getElementById(id);
    const pollMilliseconds = Number(root.dataset.pollMilliseconds) || 2000;
    const qrMilliseconds = (Number(root.dataset.qrRefreshSeconds) || 15) * 1000;
    const qrImage = byId("pairing-qr-image");
    let finished = false;
    let qrTimer = null;

    function show(element, visible) {
        if (element) {
            element.hidden = !visible;
        }
    }

    // QR code ---------------------------------------------------------------------------------
    function refreshQr() {
        if (finished || !qrImage) {
            return;
        }
        const url = new URL(qrImage.dataset.src, window.location.href);
        url.searchParams.set("t", String(Date.now()));
        qrImage.src = url.toString();
    }
    if (qrImage) {
        qrImage.addEventListener("load", () => show(byId("pairing-qr-missing"), false));
        qrImage.addEventListener("error", () => show(byId("pairing-qr-missing"), true));
        qrTimer = window.setInterval(refreshQr, qrMilliseconds);
    }

    // Progress --------------------------------------------------------------------------------
    function renderMigrations(migrations) {
        const list = byId("pairing-migrations");
        list.replaceChildren();
        for (const migration of migrations) {
            const item = document.createElement("li");
            const link = document.createElement("a");
            link.href = migration.url;
            link.textContent = migration.summary;
            item.append(link, ` (${migration.source})`);
            list.append(item);
        }
        show(byId("pairing-migrations-block"), migrations.length > 0);
    }

    function render(progress) {
        root.dataset.outcome = progress.outcome;
        byId("pairing-status").textContent = progress.status_label;
        byId("pairing-message").textContent = progress.message;
        byId("pairing-phone").textContent = progress.phone_number || "";
        show(byId("pairing-phone-row"), Boolean(progress.phone_number));
        renderMigrations(progress.migrations);
        show(byId("pairing-force-move"), progress.outcome === "other_phone");
        if (progress.outcome !== "waiting") {
            finished = true;
            window.clearInterval(qrTimer);
            show(byId("pairing-steps"), false);
        }
    }

    async function poll() {
        try {
            const response = await fetch(root.dataset.statusUrl, {
                headers: { Accept: "application/json" },
                credentials: "same-origin",
                cache: "no-store",
            });
            if (response.ok) {
                render(await response.json());
            }
        } catch (error) {
            // A dropped request is retried at the next poll.
        }
        if (!finished) {
            window.setTimeout(poll, pollMilliseconds);
        }
    }

    // Link with the phone number --------------------------------------------------------------
    const codeForm = byId("pairing-code-form");
    if (codeForm) {
        codeForm.addEventListener("submit", async (event) => {
            event.preventDefault();
            const button = byId("pairing-code-button");
            button.disabled = true;
            show(byId("pairing-code-error"), false);
            try {
                const response = await fetch(codeForm.action, {
                    method: "POST",
                    body: new FormData(codeForm),
                    headers: { Accept: "application/json" },
                    credentials: "same-origin",
                });
                const answer = await response.json();
                if (response.ok) {
                    byId("pairing-code-value").textContent = answer.code;
                    show(byId("pairing-code-result"), true);
                } else {
                    byId("pairing-code-error").textContent = answer.error;
                    show(byId("pairing-code-error"), true);
                }
            } catch (error) {
                byId("pairing-code-error").textContent = codeForm.dataset.noAnswer;
                show(byId("pairing-code-error"), true);
            } finally {
                button.disabled = false;
            }
        });
    }

    poll();
})();
