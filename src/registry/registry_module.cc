// Placeholder translation unit until the HTTP API lands.
