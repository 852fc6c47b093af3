// The CSRF token for scripts: send it in the x-csrf-token header.
window.csrfToken = document.querySelector('meta[name="csrf-token"]')?.content;
