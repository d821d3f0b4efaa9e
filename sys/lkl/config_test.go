package lkl_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys/lkl"
)

func TestParseConfigContractShape(t *testing.T) {
	c, err := lkl.ParseConfig([]byte(`{
	  "memory": "64M",
	  "boot_cmdline": "",
	  "debug": "0",
	  "sysctl": "net.ipv4.tcp_wmem=4096 87380 2147483647",
	  "nameserver": "10.0.2.3",
	  "disks": [
	    {"path": "disk.img", "fstype": "ext4", "partition": 0, "readonly": true, "mountpoint": "/mnt/disk"}
	  ],
	  "interfaces": []
	}`))
	require.NoError(t, err)
	mem, err := c.MemoryBytes()
	require.NoError(t, err)
	require.Equal(t, int64(64<<20), mem)
	require.Equal(t, []lkl.Disk{{Path: "disk.img", FSType: "ext4", ReadOnly: true, MountPoint: "/mnt/disk"}}, c.Disks)
	entries, err := c.SysctlEntries()
	require.NoError(t, err)
	require.Equal(t, []lkl.SysctlEntry{{Key: "net.ipv4.tcp_wmem", Value: "4096 87380 2147483647"}}, entries)
	require.Equal(t, "10.0.2.3", c.Nameserver)
}

func TestParseConfigHijackKeys(t *testing.T) {
	c, err := lkl.ParseConfig([]byte(`{
	  "gateway":"192.168.0.1", "gateway6":"2001:db8:0:f101::1", "debug":"0x100", "singlecpu":"1",
	  "sysctl":"net.ipv4.ip_forward=1;net.core.somaxconn=1024", "boot_cmdline":"ip=dhcp",
	  "delay_main":"500000", "mount":"proc,sysfs",
	  "interfaces":[{"type":"tap","param":"tap0","mtu":"1280","ip":"192.168.0.2","masklen":"24",
	    "ifgateway":"192.168.0.1","ipv6":"2001:db8:0:f101::2","masklen6":"64","ifgateway6":"2001:db8:0:f101::1",
	    "mac":"12:34:56:78:9a:bc","offload":"0xc803","neigh":"192.168.0.1|12:34:56:78:9a:bc;2001:db8:0:f101::1|12:34:56:78:9a:be",
	    "qdisc":"root|fq"}]
	}`))
	require.NoError(t, err)
	require.Equal(t, int64(0x100), c.DebugLevel())
	require.Equal(t, []string{"proc", "sysfs"}, c.MountList())
	entries, err := c.SysctlEntries()
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "tap0", c.Interfaces[0].Param)
}

func TestZeroConfigIsValid(t *testing.T) {
	var c lkl.Config
	require.NoError(t, c.Validate())
	mem, err := c.MemoryBytes()
	require.NoError(t, err)
	require.Equal(t, int64(lkl.DefaultMemory), mem)
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"unknown key", `{"memroy":"64M"}`, `unknown field "memroy"`},
		{"unknown disk key", `{"disks":[{"path":"a","fs":"ext4"}]}`, `unknown field "fs"`},
		{"not json", `{"memory":`, "lkl config"},
		{"trailing data", `{} {}`, "data after the JSON object"},
		{"wrong type", `{"disks":[{"path":"a","partition":"1"}]}`, "partition"},
		{"bad memory", `{"memory":"lots"}`, `memory="lots"`},
		{"tiny memory", `{"memory":"1M"}`, "at least 16M"},
		{"bad debug", `{"debug":"yes"}`, `debug="yes"`},
		{"bad singlecpu", `{"singlecpu":"3"}`, `singlecpu="3"`},
		{"bad delay", `{"delay_main":"-1"}`, `delay_main="-1"`},
		{"bad sysctl", `{"sysctl":"net.ipv4.ip_forward"}`, `sysctl=`},
		{"sysctl path escape", `{"sysctl":"../../etc/passwd=x"}`, `sysctl=`},
		{"bad gateway", `{"gateway":"2001:db8::1"}`, `gateway="2001:db8::1": want an IPv4 address`},
		{"bad gateway6", `{"gateway6":"10.0.0.1"}`, `gateway6="10.0.0.1": want an IPv6 address`},
		{"bad nameserver", `{"nameserver":"dns"}`, `nameserver="dns"`},
		{"bad mount", `{"mount":"proc,devtmpfs"}`, `not "devtmpfs"`},
		{"disk without path", `{"disks":[{"fstype":"ext4"}]}`, `disks[0].path=""`},
		{"bad fstype", `{"disks":[{"path":"a","fstype":"ntfs"}]}`, `disks[0].fstype="ntfs"`},
		{"bad partition", `{"disks":[{"path":"a","partition":-1}]}`, `disks[0].partition="-1"`},
		{"images without volume", `{"disks":[{"path":"a","images":["b"]}]}`, `disks[0].images="b": more images are scanned for a volume: set volume too`},
		{"empty image", `{"disks":[{"path":"a","volume":"vg/lv","images":[""]}]}`, `disks[0].images[0]=""`},
		{"image twice", `{"disks":[{"path":"a","volume":"vg/lv","images":["b","b"]}]}`, `disks[0].images[1]="b": named twice`},
		{"image is path", `{"disks":[{"path":"a","volume":"vg/lv","images":["a"]}]}`, `disks[0].images[0]="a": named twice`},
		{"volume with NUL", `{"disks":[{"path":"a","volume":"vg\u0000"}]}`, `disks[0].volume=`},
		{"relative mountpoint", `{"disks":[{"path":"a","mountpoint":"mnt"}]}`, `disks[0].mountpoint="mnt"`},
		{"root mountpoint", `{"disks":[{"path":"a","mountpoint":"/"}]}`, "cannot mount over LKL's root"},
		{"same mountpoint twice", `{"disks":[{"path":"a","mountpoint":"/m"},{"path":"b","mountpoint":"/m/"}]}`, `disks[1].mountpoint="/m/": disks[0] is mounted there too`},
		{"bad interface type", `{"interfaces":[{"type":"wifi"}]}`, `interfaces[0].type="wifi"`},
		{"bad mtu", `{"interfaces":[{"type":"user","mtu":"9"}]}`, `interfaces[0].mtu="9"`},
		{"bad ip", `{"interfaces":[{"type":"user","ip":"10.0.2"}]}`, `interfaces[0].ip="10.0.2"`},
		{"bad masklen", `{"interfaces":[{"type":"user","masklen":"33"}]}`, `interfaces[0].masklen="33"`},
		{"bad mac", `{"interfaces":[{"type":"user","mac":"zz"}]}`, `interfaces[0].mac="zz"`},
		{"bad offload", `{"interfaces":[{"type":"user","offload":"lots"}]}`, `interfaces[0].offload="lots"`},
		{"bad neigh", `{"interfaces":[{"type":"user","neigh":"10.0.0.1"}]}`, `interfaces[0].neigh=`},
		{"bad qdisc", `{"interfaces":[{"type":"user","qdisc":"fq"}]}`, `interfaces[0].qdisc=`},
		{"user mtu too big", `{"interfaces":[{"type":"user","mtu":"65000"}]}`, `interfaces[0].mtu="65000"`},
		{"tap without param", `{"interfaces":[{"type":"tap"}]}`, `interfaces[0].param=""`},
		{"resolver on tap", `{"interfaces":[{"type":"tap","param":"t0","resolver":"1.1.1.1"}]}`, `interfaces[0].resolver="1.1.1.1"`},
		{"bad resolver", `{"interfaces":[{"type":"user","resolver":"dns"}]}`, `interfaces[0].resolver="dns"`},
		{"bad forward", `{"interfaces":[{"type":"user"}],"forward":["tcp:127.0.0.1:80"]}`, `forward[0]="tcp:127.0.0.1:80"`},
		{"forward network", `{"interfaces":[{"type":"user"}],"forward":["sctp:127.0.0.1:80:80"]}`, `forward[0]=`},
		{"forward guest port", `{"interfaces":[{"type":"user"}],"forward":["tcp:127.0.0.1:80:0"]}`, `forward[0]=`},
		{"bad restrict", `{"interfaces":[{"type":"user","restrict":"yes"}]}`, `interfaces[0].restrict="yes": want on or off`},
		{"restrict on tap", `{"interfaces":[{"type":"tap","param":"t0","restrict":"on"}]}`, `interfaces[0].restrict="on"`},
		{"bad allow", `{"interfaces":[{"type":"user","allow":["tcp:10.0.2.2:8080","tcp:10.0.2.2"]}]}`, `interfaces[0].allow[1]="tcp:10.0.2.2"`},
		{"allow icmp", `{"interfaces":[{"type":"user","allow":["icmp:10.0.2.2:1"]}]}`, `interfaces[0].allow[0]=`},
		{"allow on tap", `{"interfaces":[{"type":"tap","param":"t0","allow":["tcp:10.0.2.2:80"]}]}`, `interfaces[0].allow[0]=`},
		{"allow with restrict off", `{"interfaces":[{"type":"user","restrict":"off","allow":["udp:10.0.2.3:53"]}]}`, `interfaces[0].allow[0]="udp:10.0.2.3:53": an allow list restricts`},
		{"bad isolation", `{"isolation":"vm"}`, `isolation="vm": want none or process`},
		{"bad isolation deadline", `{"isolation":"process","isolation_deadline":"soon"}`, `isolation_deadline="soon"`},
		{"bad isolation call deadline", `{"isolation":"process","isolation_call_deadline":"-1s"}`, `isolation_call_deadline="-1s"`},
		{"forward without user", `{"forward":["tcp:127.0.0.1:8080:80"]}`, `need an interface of type user`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lkl.ParseConfig([]byte(tc.json))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"disks":[{"path":"disk.img"},{"path":"/abs.img","volume":"vg/lv","images":["b.img","/c.img","http://h/d.img"]}]}`), 0o644))
	c, err := lkl.LoadConfig(file)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "disk.img"), c.Disks[0].Path, "relative to the file")
	require.Equal(t, "/abs.img", c.Disks[1].Path)
	require.Equal(t, []string{filepath.Join(dir, "b.img"), "/c.img", "http://h/d.img"}, c.Disks[1].Images, "images relative to the file, as paths are")

	_, err = lkl.LoadConfig(filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "missing.json")

	require.NoError(t, os.WriteFile(file, []byte(`{"memory":"x"}`), 0o644))
	_, err = lkl.LoadConfig(file)
	require.ErrorContains(t, err, "k.json: lkl config: memory")
}

func TestParseConfigUserNetwork(t *testing.T) {
	c, err := lkl.ParseConfig([]byte(`{
	  "interfaces":[{"type":"user","resolver":"127.0.0.1:5353","mtu":"1500"}],
	  "forward":["tcp:127.0.0.1:8080:80","udp:[::1]:5353:53"]
	}`))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:5353", c.Interfaces[0].Resolver)
	require.Equal(t, []string{"tcp:127.0.0.1:8080:80", "udp:[::1]:5353:53"}, c.Forward)

	c, err = lkl.ParseConfig([]byte(`{"interfaces":[{"type":"user","restrict":"on","allow":["tcp:10.0.2.2:8080","udp:10.0.2.3:53"]}]}`))
	require.NoError(t, err)
	require.Equal(t, "on", c.Interfaces[0].Restrict)
	require.Equal(t, []string{"tcp:10.0.2.2:8080", "udp:10.0.2.3:53"}, c.Interfaces[0].Allow)
}
