# Shared by the scripts: installs and starts the system parts MynaGate runs on.
# Source it; every function is idempotent.

# Debian packages the gate, its tests and its demo need.
MYNAGATE_APT_PACKAGES=(
  pcscd libpcsclite-dev vsmartcard-vpcd   # PC/SC daemon, its headers (cgo), the virtual reader
  softhsm2                                # PKCS#11 token for HSM tests and the demo
  mosquitto                               # the MQTT broker tests run against
  postgresql                              # the hub store (issue 14) tests run against
  opensc                                  # independent check that the virtual card behaves like a real one
  gcc pkg-config                          # cgo for ebfe/scard and miekg/pkcs11
  chromium                                # headless browser for the hub dashboard test
  systemd                                 # systemd-analyze, -sysusers, -tmpfiles for the packaging test
  fonts-ipafont-gothic                    # Japanese glyphs for the dashboard's screenshot
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# install_packages installs what is missing, running apt-get update at most once.
install_packages() {
  local missing=()
  for p in "${MYNAGATE_APT_PACKAGES[@]}"; do
    [[ $p == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# go_modules downloads the modules go.mod names.
go_modules() {
  say "downloading Go modules"
  go mod download
}

# vpcd_listening reports whether pcscd has the vpcd virtual reader loaded.
# It reads the socket table: connecting to vpcd's port would insert a card.
vpcd_listening() {
  awk '$2 ~ /:8C7B$/ && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# start_pcscd starts pcscd with the vpcd reader, restarting a pcscd that was
# started before vsmartcard-vpcd was installed.
start_pcscd() {
  vpcd_listening && return 0
  if pgrep -x pcscd >/dev/null; then
    say "restarting pcscd to load the vpcd reader"
    pkill -x pcscd || true
    sleep 0.5
  fi
  say "starting pcscd with the vpcd virtual reader"
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo pcscd
  for _ in $(seq 50); do vpcd_listening && return 0; sleep 0.1; done
  echo "pcscd started but vpcd is not listening on 35963; is /etc/reader.conf.d/vpcd present?" >&2
  return 1
}
