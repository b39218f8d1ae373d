// Placeholder translation unit until the MQTT service lands.
