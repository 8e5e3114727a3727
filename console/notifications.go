package console

import (
	"net/http"
	"strings"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// notificationListData is the outbox by state.
type notificationListData struct {
	stateFilter
	Notifications []*pb.Notification
	listPage
}

var notificationStates = []string{"pending", "delivered", "failed"}

func (c *Console) notificationList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	d := notificationListData{stateFilter: filterOf(q, notificationStates, "failed")}
	state := pb.NotificationState(pb.NotificationState_value["NOTIFICATION_STATE_"+strings.ToUpper(d.State)])
	list, err := call(r, c, sess, pb.NotificationService_ListNotifications_FullMethodName, c.api.ListNotifications,
		&pb.ListNotificationsRequest{State: state, AccountId: d.Account, PageSize: pageSize, PageToken: q.Get("page")})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	d.Notifications = list.GetNotifications()
	d.listPage = pageLinks(d.query(), q.Get("page"), list.GetNextPageToken())
	c.render(w, sess, http.StatusOK, "notifications", "Notifications", "notifications", d)
}

func (c *Console) retryNotification(w http.ResponseWriter, r *http.Request, sess *session) {
	_, err := call(r, c, sess, pb.NotificationService_RetryNotification_FullMethodName, c.api.RetryNotification,
		&pb.RetryNotificationRequest{NotificationId: r.PathValue("notification_id")})
	if err != nil {
		c.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/ui/notifications?state=pending", http.StatusSeeOther)
}
