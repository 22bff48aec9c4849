// Starts Swagger UI on /docs over this server's own OpenAPI document. It is a file, not an
// inline script, so the page's Content-Security-Policy can forbid inline code.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
