#!/bin/sh
# Builds a simulated phone's root filesystem and holds it open.
#
# Usage (always inside fresh namespaces, so nothing here is visible to the host):
#     unshare --user --map-root-user --mount /bin/sh mount_device_root.sh DEVICE_DIR ROOTFS_DIR
#
# ROOTFS_DIR becomes a tmpfs holding one entry per top-level entry of the host's /, bound from
# the host, except where DEVICE_DIR has an entry of the same name: then the device's entry is
# bound instead. A process chrooted into ROOTFS_DIR therefore sees the phone's /data, /sys,
# /system and /sdcard at their real paths, and the host's /proc, /dev, /usr, /tmp everywhere else,
# so host binaries, shell builtins, redirections and `#!/system/bin/sh` scripts all work.
#
# Prints "ready" once the tree is built, then waits for its stdin to close: the namespace lives as
# long as this process (or any process that entered it) does.
set -eu

device_dir=$1
rootfs_dir=$2

# Mounts made below must not propagate back to the host's namespace.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 adb_sim_rootfs "$rootfs_dir"
# ROOTFS_DIR lies under a host directory (/tmp) that is bound recursively below; being
# unbindable keeps that recursive bind from copying the new root into itself.
mount --make-unbindable "$rootfs_dir"

# Recreates one entry SOURCE (a host or device path) as ROOTFS_DIR/NAME.
place() {
    source=$1
    target="$rootfs_dir/$2"
    if [ -L "$source" ]; then
        ln -s "$(readlink "$source")" "$target"
    elif [ -d "$source" ]; then
        mkdir "$target"
        mount --rbind "$source" "$target"
    else
        : > "$target"
        mount --bind "$source" "$target"
    fi
}

for host_entry in /* /.[!.]*; do
    [ -e "$host_entry" ] || [ -L "$host_entry" ] || continue  # a glob that matched nothing
    name=${host_entry#/}
    if [ -e "$device_dir/$name" ] || [ -L "$device_dir/$name" ]; then
        continue  # the phone's own entry replaces the host's
    fi
    # Best effort: a host entry this user cannot bind (say, an unreadable lost+found) is left out.
    # Never rm -r here: a half-placed entry could be a mount of the host's directory.
    place "$host_entry" "$name" 2>/dev/null ||
        rmdir "$rootfs_dir/$name" 2>/dev/null || rm -f "$rootfs_dir/$name" 2>/dev/null || true
done

for device_entry in "$device_dir"/* "$device_dir"/.[!.]*; do
    [ -e "$device_entry" ] || [ -L "$device_entry" ] || continue
    place "$device_entry" "${device_entry##*/}"
done

echo ready
read -r _ || true
