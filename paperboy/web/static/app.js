// Voting without a reload: the vote forms work without JavaScript; this only spares the page load.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains("vote")) return;
  event.preventDefault();
  const button = form.querySelector("button");
  const upField = form.querySelector("input[name=up]");
  const up = upField.value !== "0";
  const token = document.querySelector('meta[name="csrf-token"]').content;
  button.disabled = true;
  try {
    const response = await fetch("/api/papers/" + form.dataset.paper.split("/").map(encodeURIComponent).join("/") + "/vote", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify({ up }),
      credentials: "same-origin",
    });
    if (response.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); return; }
    if (!response.ok) { form.submit(); return; }
    const result = await response.json();
    button.querySelector(".count").textContent = result.upvotes;
    button.classList.toggle("voted", result.voted);
    button.setAttribute("aria-pressed", String(result.voted));
    upField.value = result.voted ? "0" : "1";
  } catch (error) {
    form.submit();
  } finally {
    button.disabled = false;
  }
});

// Forms that ask first (deleting a collection): the question is in data-confirm, since the
// Content-Security-Policy runs no inline handlers.  Without JavaScript the form just submits.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
