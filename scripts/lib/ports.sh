# Port picking for the scripts that start servers (scripts/services, samples/bank/stack.sh).
# Sourced, not run.

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# remembered_port FILE: prints the port stored in FILE, or picks a free one and stores it there.
# Picked at random below the kernel's ephemeral range: client sockets take ports from that range
# at any moment, so a server port picked inside it can be taken (as a connection's local port)
# before the server binds it ("Address already in use").
remembered_port() {
  local file=$1 low=32768 top p
  if [ -s "$file" ]; then cat "$file"; return 0; fi
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  top=$(( low > 21024 ? low : 65000 ))  # an ephemeral range starting that low: use the rest
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % (top - 20000) ))
    if ! port_in_use "$p"; then echo "$p" >"$file"; echo "$p"; return 0; fi
  done
  return 1
}
