package dev.ringtape.allreduce;

/** How ranks reach each other: Aeron IPC through one shared media driver, or Aeron UDP. */
public enum Transport {
    IPC,
    UDP;

    /** {@code aeron-ipc}, {@code aeron-udp}; {@code auto} is IPC when every rank is on one host, else UDP. */
    public static Transport of(String name, boolean sameHost) {
        return switch (name) {
            case "aeron-ipc", "ipc" -> IPC;
            case "aeron-udp", "udp" -> UDP;
            case "auto" -> sameHost ? IPC : UDP;
            default -> throw new IllegalArgumentException(
                    "unknown transport '" + name + "' (expected aeron-ipc, aeron-udp or auto)");
        };
    }
}
