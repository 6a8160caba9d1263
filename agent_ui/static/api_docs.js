// The API docs page: Swagger UI (its assets served by this server) on /api/openapi.json.
// A plain script, not a module: swagger-ui-bundle.js defines the global SwaggerUIBundle.
(function () {
  const root = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: root.dataset.document,
    domNode: root,
    deepLinking: true,
    // Try-it-out requests carry the session's CSRF token, as console.js does for the console's own calls.
    requestInterceptor: (request) => {
      const token = document.querySelector('meta[name="csrf-token"]');
      if (token) request.headers["X-CSRF-Token"] = token.content;
      return request;
    },
  });
})();
