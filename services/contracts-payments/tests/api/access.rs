//! Who may call what, as the proto's authorization table says.
