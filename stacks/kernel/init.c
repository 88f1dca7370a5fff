/*
 * The whole user space of the kernel stackctl builds in a container: say that the
 * kernel booted, then reboot, which qemu -no-reboot turns into a clean exit
 * (tinyconfig has no ACPI to power off with).
 */
#include <stdio.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
	struct utsname u;

	if (uname(&u) == 0)
		printf("stackctl: hello from Linux %s, built in a container\n", u.release);
	else
		printf("stackctl: hello from a Linux kernel built in a container\n");
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
