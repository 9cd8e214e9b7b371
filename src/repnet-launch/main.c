/*
 * main.c: repnet-launch, the privileged launcher. repnetd starts it while
 * it is still root; it becomes repnetd's user at once, keeping only the
 * capabilities of the helpers it was told about, and starts repnet-nfsync
 * and repnet-capture when repnetd asks (proto/launch.c). It is not meant
 * to be run by hand.
 */
#include "proto/proto.h"

int main(int argc, char **argv)
{
	return rn_launcher_main(argc, argv);
}
