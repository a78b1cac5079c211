// SPDX-License-Identifier: MIT
/*
 * The PCI root bus: config space emulation, BAR decoding, MSI-X and INTx.
 * The host bridge device (host_bridge.c) routes 0xCF8/0xCFC and ECAM here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci/pci.h"
#include "vmm/vm.h"

static uint32_t cfg_get(const struct pci_dev *pdev, unsigned int off, unsigned int n)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint32_t)pdev->cfg[off + i] << (8 * i);
	return v;
}

static void cfg_set(struct pci_dev *pdev, unsigned int off, uint32_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		pdev->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static void mask_set(uint8_t *mask, unsigned int off, uint32_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		mask[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_dev_init(struct pci_dev *pdev, const char *name, uint16_t vendor,
		  uint16_t device, uint32_t class_code, uint8_t revision,
		  uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(pdev->cfg, 0, sizeof(pdev->cfg));
	memset(pdev->wmask, 0, sizeof(pdev->wmask));
	memset(pdev->w1cmask, 0, sizeof(pdev->w1cmask));
	memset(pdev->bars, 0, sizeof(pdev->bars));
	pdev->name = name;
	pdev->hook_off = pdev->hook_len = 0;
	pdev->msix_nr = 0;
	pdev->intx_level = false;
	cfg_set(pdev, PCI_VENDOR_ID, vendor, 2);
	cfg_set(pdev, PCI_DEVICE_ID, device, 2);
	cfg_set(pdev, PCI_REVISION_ID, revision, 1);
	cfg_set(pdev, PCI_CLASS_PROG, class_code, 3);
	cfg_set(pdev, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	cfg_set(pdev, PCI_SUBSYSTEM_ID, subsys_id, 2);
	cfg_set(pdev, PCI_INTERRUPT_PIN, 1, 1);		/* INTA */
	/* Memory decode, bus master, INTx disable; no I/O BARs, so no I/O decode. */
	mask_set(pdev->wmask, PCI_COMMAND,
		 PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE, 2);
	pdev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	pdev->wmask[0x0c] = 0xff;	/* cache line size */
	pdev->next_cap = 0x40;
	pdev->last_cap_next = &pdev->cfg[PCI_CAPABILITY_LIST];
	pthread_mutex_init(&pdev->lock, NULL);
}

int pci_dev_add_bar(struct pci_dev *pdev, unsigned int nr, uint64_t size,
		    bool is64, bool prefetch, const struct bus_ops *ops, void *opaque)
{
	struct pci_bar *bar;
	uint32_t flags = (is64 ? PCI_BAR_MEM_64 : 0) | (prefetch ? PCI_BAR_PREFETCH : 0);

	if (nr >= PCI_NUM_BARS || (is64 && nr + 1 >= PCI_NUM_BARS))
		return -EINVAL;
	if (size < 4096 || (size & (size - 1)) || (!is64 && size > (1ULL << 31)))
		return -EINVAL;
	bar = &pdev->bars[nr];
	*bar = (struct pci_bar){ .size = size, .is64 = is64, .prefetch = prefetch,
				 .ops = ops, .opaque = opaque };
	cfg_set(pdev, PCI_BAR0 + 4 * nr, flags, 4);
	/* Address bits below the size are hard-wired to zero: that is sizing. */
	mask_set(pdev->wmask, PCI_BAR0 + 4 * nr, (uint32_t)~(size - 1) & ~0xfu, 4);
	if (is64)
		mask_set(pdev->wmask, PCI_BAR0 + 4 * (nr + 1), (uint32_t)(~(size - 1) >> 32), 4);
	return 0;
}

uint8_t pci_dev_add_cap(struct pci_dev *pdev, uint8_t id, uint8_t len)
{
	uint8_t off = pdev->next_cap;

	if (len < 2 || off + len > PCI_CFG_SIZE || off == 0)
		return 0;
	pdev->cfg[off] = id;
	pdev->cfg[off + 1] = 0;
	*pdev->last_cap_next = off;
	pdev->last_cap_next = &pdev->cfg[off + 1];
	pdev->next_cap = (uint8_t)((off + len + 3) & ~3u);
	if (off + len + 3 >= PCI_CFG_SIZE)
		pdev->next_cap = 0;
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	return off;
}

int pci_dev_add_msix(struct pci_dev *pdev, unsigned int nr, unsigned int bar,
		     uint32_t table_off, uint32_t pba_off)
{
	uint8_t cap;

	if (!nr || nr > 2048 || bar >= PCI_NUM_BARS || !pdev->bars[bar].size ||
	    (table_off | pba_off) & 7 ||
	    table_off + nr * PCI_MSIX_ENTRY_SIZE > pdev->bars[bar].size ||
	    pba_off + (nr + 63) / 64 * 8 > pdev->bars[bar].size)
		return -EINVAL;
	cap = pci_dev_add_cap(pdev, PCI_CAP_ID_MSIX, 12);
	if (!cap)
		return -ENOSPC;
	pdev->msix_table = calloc(nr, sizeof(*pdev->msix_table));
	pdev->msix_pba = calloc((nr + 63) / 64, sizeof(uint64_t));
	if (!pdev->msix_table || !pdev->msix_pba)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr; i++)
		pdev->msix_table[i].ctrl = PCI_MSIX_CTRL_MASKED;
	pdev->msix_nr = nr;
	pdev->msix_cap = cap;
	pdev->msix_bar = bar;
	pdev->msix_table_off = table_off;
	pdev->msix_pba_off = pba_off;
	cfg_set(pdev, cap + 2, nr - 1, 2);
	cfg_set(pdev, cap + 4, table_off | bar, 4);
	cfg_set(pdev, cap + 8, pba_off | bar, 4);
	/* Only Enable and Function Mask are writable. */
	mask_set(pdev->wmask, cap + 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	return 0;
}

/* ---- Interrupts ---- */

static bool msix_on(const struct pci_dev *pdev)
{
	uint16_t flags;

	if (!pdev->msix_nr)
		return false;
	flags = (uint16_t)cfg_get(pdev, pdev->msix_cap + 2, 2);
	return (flags & PCI_MSIX_FLAGS_ENABLE) != 0;
}

static bool msix_fn_masked(const struct pci_dev *pdev)
{
	return cfg_get(pdev, pdev->msix_cap + 2, 2) & PCI_MSIX_FLAGS_MASKALL;
}

bool pci_msix_enabled(struct pci_dev *pdev)
{
	bool on;

	pthread_mutex_lock(&pdev->lock);
	on = msix_on(pdev);
	pthread_mutex_unlock(&pdev->lock);
	return on;
}

/* Deliver or remember vector v; pdev->lock held. */
static void msix_fire(struct pci_dev *pdev, unsigned int v)
{
	const struct pci_msix_entry *e = &pdev->msix_table[v];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
	bool bus_master = cfg_get(pdev, PCI_COMMAND, 2) & PCI_CMD_MASTER;

	if ((e->ctrl & PCI_MSIX_CTRL_MASKED) || msix_fn_masked(pdev) || !bus_master) {
		pdev->msix_pba[v / 64] |= 1ULL << (v % 64);
		return;
	}
	pdev->msix_pba[v / 64] &= ~(1ULL << (v % 64));
	if (pdev->vm && pdev->vm->signal_msi)
		pdev->vm->signal_msi(pdev->vm, addr, e->data);
}

bool pci_msix_notify(struct pci_dev *pdev, unsigned int vector)
{
	bool ok;

	pthread_mutex_lock(&pdev->lock);
	ok = msix_on(pdev) && vector < pdev->msix_nr;
	if (ok)
		msix_fire(pdev, vector);
	pthread_mutex_unlock(&pdev->lock);
	return ok;
}

/* Deliver every pending vector that is no longer masked; lock held. */
static void msix_flush_pending(struct pci_dev *pdev)
{
	if (!msix_on(pdev) || msix_fn_masked(pdev))
		return;
	for (unsigned int v = 0; v < pdev->msix_nr; v++)
		if ((pdev->msix_pba[v / 64] >> (v % 64)) & 1 &&
		    !(pdev->msix_table[v].ctrl & PCI_MSIX_CTRL_MASKED))
			msix_fire(pdev, v);
}

/* Drive the INTx line from intx_level and the INTX_DISABLE bit; lock held. */
static void intx_update(struct pci_dev *pdev)
{
	bool disabled = cfg_get(pdev, PCI_COMMAND, 2) & PCI_CMD_INTX_DISABLE;
	bool level = pdev->intx_level && !disabled;

	/* Status shows the request even while INTX_DISABLE masks the pin. */
	if (pdev->intx_level)
		pdev->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		pdev->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	if (pdev->vm && pdev->vm->irq_line)
		vm_irq_line(pdev->vm, PCI_INTX_GSI(pdev->slot, 0), level);
}

void pci_set_intx(struct pci_dev *pdev, bool level)
{
	pthread_mutex_lock(&pdev->lock);
	if (pdev->intx_level != level) {
		pdev->intx_level = level;
		intx_update(pdev);
	}
	pthread_mutex_unlock(&pdev->lock);
}

/* ---- MSI-X table and PBA (in a BAR) ---- */

bool pci_msix_read(struct pci_dev *pdev, unsigned int bar, uint64_t off,
		   uint8_t *data, uint32_t len)
{
	uint64_t tsize = (uint64_t)pdev->msix_nr * PCI_MSIX_ENTRY_SIZE;
	uint64_t psize = (pdev->msix_nr + 63) / 64 * 8;

	if (!pdev->msix_nr || bar != pdev->msix_bar)
		return false;
	pthread_mutex_lock(&pdev->lock);
	if (off >= pdev->msix_table_off && off - pdev->msix_table_off < tsize) {
		off -= pdev->msix_table_off;
		/* Entries are dwords; wider or straddling reads get what fits. */
		if (off + len <= tsize)
			memcpy(data, (uint8_t *)pdev->msix_table + off, len);
	} else if (off >= pdev->msix_pba_off && off - pdev->msix_pba_off < psize) {
		off -= pdev->msix_pba_off;
		if (off + len <= psize)
			memcpy(data, (uint8_t *)pdev->msix_pba + off, len);
	} else {
		pthread_mutex_unlock(&pdev->lock);
		return false;
	}
	pthread_mutex_unlock(&pdev->lock);
	return true;
}

bool pci_msix_write(struct pci_dev *pdev, unsigned int bar, uint64_t off,
		    const uint8_t *data, uint32_t len)
{
	uint64_t tsize = (uint64_t)pdev->msix_nr * PCI_MSIX_ENTRY_SIZE;
	uint64_t psize = (pdev->msix_nr + 63) / 64 * 8;
	struct pci_msix_entry *e;

	if (!pdev->msix_nr || bar != pdev->msix_bar)
		return false;
	if (off >= pdev->msix_pba_off && off - pdev->msix_pba_off < psize)
		return true;	/* the PBA is read-only */
	if (off < pdev->msix_table_off || off - pdev->msix_table_off >= tsize)
		return false;
	off -= pdev->msix_table_off;
	/* Dword or qword accesses, naturally aligned (PCI spec 6.8.2). */
	if ((len != 4 && len != 8) || off % len || off + len > tsize)
		return true;
	pthread_mutex_lock(&pdev->lock);
	e = &pdev->msix_table[off / PCI_MSIX_ENTRY_SIZE];
	memcpy((uint8_t *)e + off % PCI_MSIX_ENTRY_SIZE, data, len);
	e->ctrl &= PCI_MSIX_CTRL_MASKED;	/* the rest is reserved */
	msix_flush_pending(pdev);
	pthread_mutex_unlock(&pdev->lock);
	return true;
}

/* ---- BAR decoding ---- */

/* The address BAR nr decodes now, or 0 when it decodes nothing; lock held. */
static uint64_t bar_address(const struct pci_dev *pdev, unsigned int nr)
{
	const struct pci_bar *bar = &pdev->bars[nr];
	uint64_t addr;

	if (!bar->size || !(cfg_get(pdev, PCI_COMMAND, 2) & PCI_CMD_MEMORY))
		return 0;
	addr = cfg_get(pdev, PCI_BAR0 + 4 * nr, 4) & ~0xfULL;
	if (bar->is64)
		addr |= (uint64_t)cfg_get(pdev, PCI_BAR0 + 4 * (nr + 1), 4) << 32;
	/* Unplaced, or sized and not yet restored: decode nothing. */
	if (!addr || addr + bar->size < addr || addr + bar->size > (1ULL << 52))
		return 0;
	return addr;
}

/*
 * Bring BAR nr's mapping on the MMIO bus in line with its register and
 * the Command register. Returns true if it changed. Called with the
 * device lock held; the bus has its own lock and never calls back here.
 */
static bool bar_sync(struct pci_dev *pdev, unsigned int nr)
{
	struct pci_bar *bar = &pdev->bars[nr];
	uint64_t addr = bar_address(pdev, nr);
	struct vm *vm = pdev->vm;
	int ret;

	if (bar->mapped && bar->mapped_at == addr)
		return false;
	if (!bar->mapped && !addr)
		return false;
	if (bar->mapped) {
		bus_unregister(&vm->mmio, bar->mapped_at);
		bar->mapped = false;
	}
	if (!addr)
		return true;
	ret = bus_register(&vm->mmio, addr, bar->size, bar->ops, bar->opaque, pdev->name);
	if (ret) {
		/* Over RAM or another BAR: the guest's mistake; decode nothing. */
		vm_log(vm, "pci %02x.0 %s: BAR%u at 0x%llx not mapped: %s", pdev->slot,
		       pdev->name, nr, (unsigned long long)addr,
		       ret == -EEXIST ? "overlaps another region" : "no memory");
		return true;
	}
	bar->mapped = true;
	bar->mapped_at = addr;
	return true;
}

/* ---- Config space ---- */

static void cfg_read_locked(struct pci_dev *pdev, unsigned int off, uint8_t *data,
			    unsigned int len)
{
	memcpy(data, &pdev->cfg[off], len);
}

/*
 * Apply a guest write through the masks; lock held. Returns a bitmask of
 * the BARs whose mapping changed, and sets *irq_changed.
 */
static unsigned int cfg_write_locked(struct pci_dev *pdev, unsigned int off,
				     const uint8_t *data, unsigned int len,
				     bool *irq_changed)
{
	uint16_t old_cmd = (uint16_t)cfg_get(pdev, PCI_COMMAND, 2);
	uint16_t old_msix = pdev->msix_nr ? (uint16_t)cfg_get(pdev, pdev->msix_cap + 2, 2) : 0;
	unsigned int changed = 0;

	for (unsigned int i = 0; i < len; i++) {
		unsigned int o = off + i;
		uint8_t w = pdev->wmask[o], c = pdev->w1cmask[o];

		pdev->cfg[o] = (uint8_t)((pdev->cfg[o] & ~w) | (data[i] & w));
		pdev->cfg[o] &= (uint8_t)~(data[i] & c);
	}
	if (cfg_get(pdev, PCI_COMMAND, 2) != old_cmd ||
	    (off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + len > PCI_BAR0)) {
		for (unsigned int nr = 0; nr < PCI_NUM_BARS; nr++)
			if (pdev->bars[nr].size && bar_sync(pdev, nr))
				changed |= 1u << nr;
	}
	*irq_changed = false;
	if ((cfg_get(pdev, PCI_COMMAND, 2) ^ old_cmd) & (PCI_CMD_INTX_DISABLE | PCI_CMD_MASTER)) {
		intx_update(pdev);
		*irq_changed = true;
	}
	if (pdev->msix_nr && cfg_get(pdev, pdev->msix_cap + 2, 2) != old_msix) {
		msix_flush_pending(pdev);
		*irq_changed = true;
	}
	if ((cfg_get(pdev, PCI_COMMAND, 2) ^ old_cmd) & PCI_CMD_MASTER)
		msix_flush_pending(pdev);
	return changed;
}

static struct pci_dev *root_dev(struct pci_root *root, unsigned int slot, unsigned int fn)
{
	if (slot >= PCI_MAX_SLOTS || fn != 0)
		return NULL;
	return root->slots[slot];
}

static bool access_ok(unsigned int off, unsigned int len)
{
	if (len != 1 && len != 2 && len != 4)
		return false;
	return off % len == 0 && off + len <= PCI_ECAM_FN_SIZE;
}

uint32_t pci_cfg_get(struct pci_dev *pdev, unsigned int off, unsigned int n)
{
	uint32_t v;

	if (n > 4 || off + n > PCI_CFG_SIZE)
		return 0;
	pthread_mutex_lock(&pdev->lock);
	v = cfg_get(pdev, off, n);
	pthread_mutex_unlock(&pdev->lock);
	return v;
}

/* The access lies wholly in the device's hooked range. */
static bool in_hook(const struct pci_dev *pdev, unsigned int off, unsigned int len)
{
	return pdev->hook_len && off >= pdev->hook_off &&
	       off + len <= (unsigned int)pdev->hook_off + pdev->hook_len;
}

void pci_config_read(struct pci_root *root, unsigned int slot, unsigned int fn,
		     unsigned int off, uint8_t *data, unsigned int len)
{
	struct pci_dev *pdev;

	memset(data, 0xff, len);
	if (!access_ok(off, len))
		return;
	pthread_mutex_lock(&root->lock);
	pdev = root_dev(root, slot, fn);
	pthread_mutex_unlock(&root->lock);
	if (!pdev)
		return;
	if (off >= PCI_CFG_SIZE) {
		memset(data, 0, len);	/* extended space: no capabilities */
		return;
	}
	pthread_mutex_lock(&pdev->lock);
	cfg_read_locked(pdev, off, data, len);
	pthread_mutex_unlock(&pdev->lock);
	if (in_hook(pdev, off, len) && pdev->ops && pdev->ops->cfg_hook_read)
		pdev->ops->cfg_hook_read(pdev, off - pdev->hook_off, data, len);
}

void pci_config_write(struct pci_root *root, unsigned int slot, unsigned int fn,
		      unsigned int off, const uint8_t *data, unsigned int len)
{
	struct pci_dev *pdev;
	unsigned int changed;
	bool irq_changed;

	if (!access_ok(off, len) || off >= PCI_CFG_SIZE)
		return;
	pthread_mutex_lock(&root->lock);
	pdev = root_dev(root, slot, fn);
	pthread_mutex_unlock(&root->lock);
	if (!pdev)
		return;
	pthread_mutex_lock(&pdev->lock);
	changed = cfg_write_locked(pdev, off, data, len, &irq_changed);
	pthread_mutex_unlock(&pdev->lock);
	/* Callbacks run unlocked: they take the device model's own lock. */
	if (!pdev->ops)
		return;
	if (in_hook(pdev, off, len) && pdev->ops->cfg_hook_write)
		pdev->ops->cfg_hook_write(pdev, off - pdev->hook_off, data, len);
	for (unsigned int nr = 0; nr < PCI_NUM_BARS; nr++)
		if ((changed >> nr) & 1 && pdev->ops->bar_changed)
			pdev->ops->bar_changed(pdev, nr);
	if (irq_changed && pdev->ops->irq_mode_changed)
		pdev->ops->irq_mode_changed(pdev);
}

/* ---- Registration ---- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Place BARs like firmware does: all in the 32-bit window, largest first. */
static int place_bars(struct pci_root *root, struct pci_dev *pdev)
{
	for (int pass = 0; pass < 64; pass++) {
		uint64_t want = 1ULL << (63 - pass);

		for (unsigned int nr = 0; nr < PCI_NUM_BARS; nr++) {
			struct pci_bar *bar = &pdev->bars[nr];
			uint64_t addr;

			if (bar->size != want)
				continue;
			addr = align_up(root->mmio32_next, bar->size);
			if (addr + bar->size > PCI_MMIO32_BASE + PCI_MMIO32_SIZE)
				return -ENOSPC;
			root->mmio32_next = addr + bar->size;
			cfg_set(pdev, PCI_BAR0 + 4 * nr,
				(uint32_t)addr | (cfg_get(pdev, PCI_BAR0 + 4 * nr, 4) & 0xf), 4);
			if (bar->is64)
				cfg_set(pdev, PCI_BAR0 + 4 * (nr + 1), (uint32_t)(addr >> 32), 4);
		}
	}
	return 0;
}

int pci_register(struct vm *vm, struct pci_dev *pdev)
{
	struct pci_root *root = vm->pci;
	int ret = -ENOSPC;

	if (!root)
		return -ENODEV;
	pthread_mutex_lock(&root->lock);
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		if (root->slots[s])
			continue;
		pdev->vm = vm;
		pdev->slot = s;
		pdev->cfg[PCI_INTERRUPT_LINE] = PCI_INTX_GSI(s, 0);
		ret = place_bars(root, pdev);
		if (!ret)
			root->slots[s] = pdev;
		break;
	}
	pthread_mutex_unlock(&root->lock);
	if (!ret)
		vm_log(vm, "pci 00:%02x.0: %s", pdev->slot, pdev->name);
	return ret;
}

void pci_unregister(struct pci_dev *pdev)
{
	struct pci_root *root = pdev->vm ? pdev->vm->pci : NULL;

	if (root) {
		pthread_mutex_lock(&root->lock);
		if (pdev->slot < PCI_MAX_SLOTS && root->slots[pdev->slot] == pdev)
			root->slots[pdev->slot] = NULL;
		pthread_mutex_unlock(&root->lock);
	}
	pthread_mutex_lock(&pdev->lock);
	for (unsigned int nr = 0; nr < PCI_NUM_BARS; nr++)
		if (pdev->bars[nr].mapped) {
			bus_unregister(&pdev->vm->mmio, pdev->bars[nr].mapped_at);
			pdev->bars[nr].mapped = false;
		}
	pthread_mutex_unlock(&pdev->lock);
	free(pdev->msix_table);
	free(pdev->msix_pba);
	pdev->msix_table = NULL;
	pdev->msix_pba = NULL;
	pdev->msix_nr = 0;
	pthread_mutex_destroy(&pdev->lock);
}
