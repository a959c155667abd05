// The API reference at /docs: Swagger UI (swagger-ui-dist from package-lock.json, served by the
// Worker's static assets, no CDN) rendering the Worker's own /openapi.json. Read-only: "Try it
// out" is off, so the page never sends a request with the visitor's cookies.
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    supportedSubmitMethods: [],
    validatorUrl: null,
  });
});
