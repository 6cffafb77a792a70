/*
 * pykube-pause: the process that keeps a pod sandbox's namespaces alive.
 *
 * The container runtime starts it as the first process (PID 1) of every
 * pod sandbox. It sleeps until SIGINT or SIGTERM and then exits with
 * status 0. While it sleeps it reaps every child that exits: when the pod
 * shares one PID namespace, orphaned processes of the pod's containers are
 * re-parented to it, and without a reaper they would stay zombies until
 * the sandbox stops.
 *
 * Built as a static binary (cc -static -O2, see setup.py) so the sandbox
 * image needs no libc or loader: the image holds this one file.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "1.0"

static volatile sig_atomic_t stop_signal = 0;

static void request_stop(int signal_number) {
    stop_signal = signal_number;
}

/* Reap every exited child. waitpid is async-signal-safe; errno is saved
   because the interrupted code may still read it. */
static void reap_children(int signal_number) {
    (void)signal_number;
    int saved_errno = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved_errno;
}

static int install_handler(int signal_number, void (*handler)(int), int flags) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    action.sa_flags = flags;
    sigfillset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("pykube-pause %s\n", PAUSE_VERSION);
        return 0;
    }
    if (getpid() != 1) {
        /* Still useful for tests, but orphans of other processes are not
           re-parented here, so they are not reaped. */
        fprintf(stderr, "pykube-pause: warning: not PID 1, so orphaned processes are not reaped here\n");
    }

    /* Block the signals first, so one that arrives between the check of
       stop_signal and the wait is delivered inside sigsuspend instead of
       being lost. */
    sigset_t handled;
    sigset_t waiting;
    sigemptyset(&handled);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &handled, &waiting) != 0) {
        perror("pykube-pause: sigprocmask");
        return 1;
    }
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGCHLD);

    if (install_handler(SIGINT, request_stop, 0) != 0 ||
        install_handler(SIGTERM, request_stop, 0) != 0 ||
        install_handler(SIGCHLD, reap_children, SA_NOCLDSTOP | SA_RESTART) != 0) {
        perror("pykube-pause: sigaction");
        return 1;
    }

    while (!stop_signal) {
        sigsuspend(&waiting);
    }
    reap_children(SIGCHLD);
    return 0;
}
