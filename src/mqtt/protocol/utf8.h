#pragma once

#include <string_view>

namespace aiot::mqtt {

// A UTF-8 Encoded String as MQTT requires (section 1.5.4): well-formed UTF-8 per RFC 3629 (no
// overlong forms, no code points above U+10FFFF), no UTF-16 surrogates U+D800..U+DFFF
// [MQTT-1.5.4-1], and no U+0000 [MQTT-1.5.4-2]. Length limits are the caller's.
bool IsValidMqttUtf8(std::string_view s);

}  // namespace aiot::mqtt
