/* Code a patch series adds runs in the farm's containers, so they must not reach any
   network: there is no interface but loopback, and connect() to a public address fails.  */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "farm_case.h"

int
main (void)
{
  struct ifaddrs *list;
  FARM_CHECK (getifaddrs (&list) == 0);
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next)
    {
      FARM_NOTE ("interface %s%s", ifa->ifa_name,
                 (ifa->ifa_flags & IFF_LOOPBACK) ? " (loopback)" : "");
      if (!(ifa->ifa_flags & IFF_LOOPBACK))
        FARM_FAIL ("a network interface besides loopback: %s", ifa->ifa_name);
    }
  freeifaddrs (list);

  int fd = socket (AF_INET, SOCK_STREAM, 0);
  FARM_CHECK (fd >= 0);
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (80) };
  inet_pton (AF_INET, "151.101.2.132", &address.sin_addr); /* deb.debian.org */
  if (connect (fd, (struct sockaddr *) &address, sizeof address) == 0)
    FARM_FAIL ("connected to 151.101.2.132:80: the container has a network");
  FARM_NOTE ("connect: %s", strerror (errno));
  close (fd);
  FARM_PASS ();
}
