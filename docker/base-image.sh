#!/usr/bin/env bash
# Builds a Python base image from Debian packages, for hosts that cannot pull python:3.11-slim.
#
#   docker/base-image.sh [TAG]        # default TAG: monolith-ps-base:bookworm
#   BASE_IMAGE=TAG docker compose -f docker/docker-compose.yml build
#
# mmdebstrap installs python3, python3-venv, python3-pip and ca-certificates from the
# mirror apt on this host is configured with (read from `apt-get indextargets`); the
# tarball goes to `docker import`. The host's extra CA certificates
# (/usr/local/share/ca-certificates/) go into the image, and pip is pointed at the
# system bundle, so pip can verify TLS behind the same proxy the host sits behind.
# Uses $DOCKER (default: docker) so a private daemon can be addressed with -H.
set -euo pipefail
tag="${1:-monolith-ps-base:bookworm}"
docker_cmd=(${DOCKER:-docker})

suite="$(. /etc/os-release && echo "${VERSION_CODENAME}")"
# One "deb URI SUITE COMPONENT..." line per repository apt on this host knows about.
mapfile -t mirrors < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    'Identifier: Packages' | awk '{k=$1" "$2; if (!(k in c)) o[n++]=k; c[k]=c[k]" "$3}
                                  END {for (i=0;i<n;i++) print "deb " o[i] c[o[i]]}' | sort -u)
if [ ${#mirrors[@]} -eq 0 ]; then
    echo "base-image: apt knows no repository (run apt-get update)" >&2
    exit 1
fi

hooks=()
extra_certs=(/usr/local/share/ca-certificates/*.crt)
if [ -e "${extra_certs[0]}" ]; then
    hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\""
            --customize-hook="copy-in ${extra_certs[*]} /usr/local/share/ca-certificates/"
            --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1'
            --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"')
fi

mmdebstrap --quiet --variant=apt --format=tar \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "${hooks[@]}" \
    "$suite" - "${mirrors[@]}" \
  | "${docker_cmd[@]}" import --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"
