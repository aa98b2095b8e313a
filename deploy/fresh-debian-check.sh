#!/usr/bin/env bash
# Checks the README's claim that both commands work on a fresh Debian 12 machine as root:
# makes a bare Debian 12 root with debootstrap, clones this repository (its HEAD) into it,
# and inside it runs ./deploy/test.sh, then ./deploy/quickstart.sh with a write to us-east
# that must arrive at ap-south. Needs root, debootstrap and the Debian mirror; takes about
# 15 minutes on two cores. The root is left in place for a look (delete it afterwards).
#   deploy/fresh-debian-check.sh [ROOT_DIR]        (default /tmp/meridian-fresh)
# A proxy that re-signs TLS: its CA files in /usr/local/share/ca-certificates are copied in,
# and NODE_EXTRA_CA_CERTS is passed on when set, or npm cannot reach its registry.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
root="${1:-/tmp/meridian-fresh}"
if [[ $(id -u) -ne 0 ]]; then echo "fresh-debian-check: run as root" >&2; exit 2; fi
command -v debootstrap >/dev/null || { echo "fresh-debian-check: apt-get install debootstrap" >&2; exit 2; }
if [[ -e "$root" ]]; then echo "fresh-debian-check: $root exists; remove it or name another" >&2; exit 2; fi

echo "== debootstrap bookworm into $root" >&2
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.debootstrap.log" 2>&1 ||
  { echo "fresh-debian-check: debootstrap failed, see $root.debootstrap.log" >&2; exit 1; }
git clone -q "$repo" "$root/root/meridian"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Only for extra CAs is ca-certificates installed ahead of the test command (which would
# install it anyway): the copied CA files must be in the bundle before npm runs.
prep=""
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  prep="apt-get update -qq && apt-get install -y -qq ca-certificates >/dev/null && update-ca-certificates >/dev/null 2>&1"
fi
extra_ca=""
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" ]]; then extra_ca="NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"; fi

# Inside the root: the test command, then the quickstart with one replicated write.
cat >"$root/root/check.sh" <<EOF
set -uo pipefail
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 $extra_ca
cd /root/meridian
echo "== ./deploy/test.sh" >&2
./deploy/test.sh || { echo "fresh-debian-check: FAILED: ./deploy/test.sh" >&2; exit 1; }
echo "== ./deploy/quickstart.sh" >&2
./deploy/quickstart.sh >/root/quickstart.log 2>&1 &
qs=\$!
ok=0
for _ in \$(seq 1 120); do curl -sf http://127.0.0.1:7003/readyz >/dev/null && ok=1 && break; sleep 1; done
if ((ok)); then
  ok=0
  curl -sf -X PUT -H 'Content-Type: application/json' -d '{"checked":"fresh"}' \
    http://127.0.0.1:7001/v1/collections/fresh/docs/check >/dev/null &&
    for _ in \$(seq 1 60); do
      curl -sf http://127.0.0.1:7003/v1/collections/fresh/docs/check | grep -q fresh && ok=1 && break
      sleep 0.5
    done
fi
kill -TERM \$qs; wait \$qs 2>/dev/null  # TERM: a background job ignores INT
if ((ok)); then echo "fresh-debian-check: both commands work" >&2; exit 0; fi
echo "fresh-debian-check: FAILED: quickstart (log in $root/root/quickstart.log)" >&2
exit 1
EOF

unshare --mount --propagation private bash -c '
  set -e
  r="$1"
  mount -t proc proc "$r/proc"
  mount --rbind /sys "$r/sys"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/run"
  chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "${2:-true} && bash /root/check.sh"
' _ "$root" "$prep"
